"""Bookkeeping that makes the FIB passes incremental.

The controller runs a pass per burst of best-path changes; at 50,000 routes a pass that recomputed and
diffed the whole table (FIB, kernel routes, AllowedIPs) would cost far more than the changes it carries. This
records which best paths changed since the FIB was last computed, and which kernel destinations and
WireGuard peers changed since they were last applied, so each pass works on those only. `None` in any
of them means "unknown: do it all", which is also the state after an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import AgentConfig
from ..core.types import BestPath, MemberRef
from ..fib import Fib, FibDelta, desired_fib, diff_fib, update_fib

__all__ = ["FibSync"]

PeerKey = tuple[str, str]  # (ifname, public key)


class FibSync:
    def __init__(self) -> None:
        self.best_changed: dict[str, BestPath | None] | None = None  # prefix -> new best (None: withdrawn)
        self.routes_pending: set[str] | None = None  # kernel destinations changed since last applied
        self.peers_pending: set[PeerKey] | None = None  # WireGuard peers whose AllowedIPs changed
        self.peer_sets: dict[PeerKey, frozenset[str]] = {}  # last frozen AllowedIPs per peer (reused if unchanged)
        self._inputs: tuple[Any, ...] | None = None  # (cfg, members, carriers) the FIB was computed from

    def best_reset(self) -> None:
        self.best_changed = None

    def best_change(self, prefix: str, path: BestPath | None) -> None:
        if self.best_changed is not None:
            self.best_changed[prefix] = path

    def compute(
        self,
        old: Fib,
        cfg: AgentConfig,
        best: Mapping[str, BestPath],
        members: Mapping[str, MemberRef],
        carriers: Mapping[str, str],
    ) -> Fib:
        """The FIB for these inputs: updated from `old` for the changed best paths when nothing else
        changed, recomputed otherwise. What changed is added to the pending sets."""
        inputs = (cfg, dict(members), dict(carriers))
        same = self._inputs is not None and self._inputs[0] is cfg and self._inputs[1:] == inputs[1:]
        if same and self.best_changed is not None:
            if not self.best_changed:
                return old
            new, delta = update_fib(old, cfg, self.best_changed, members, carriers)
        else:
            new = desired_fib(cfg, best.values(), members, carriers)
            delta = diff_fib(old, new)
        self._inputs = inputs
        self.best_changed = {}
        self._pend(delta)
        return new

    def _pend(self, delta: FibDelta) -> None:
        if self.routes_pending is not None:
            self.routes_pending |= delta.routes
        if self.peers_pending is not None:
            if delta.peers is None:
                self.peers_pending = None
            else:
                self.peers_pending |= delta.peers

    def take_routes(self) -> set[str] | None:
        pending, self.routes_pending = self.routes_pending, set()
        return pending

    def take_peers(self) -> set[PeerKey] | None:
        pending, self.peers_pending = self.peers_pending, set()
        return pending

    def peer_allowed(
        self, key: PeerKey, pending: set[PeerKey] | None, allowed: Mapping[str, set[str]]
    ) -> frozenset[str]:
        """The peer's AllowedIPs as a frozenset: the same object as last time unless it changed, so the
        comparisons downstream (applied specs, the backend's plan) are pointer compares."""
        ips = self.peer_sets.get(key) if pending is not None and key not in pending else None
        if ips is None:
            ips = self.peer_sets[key] = frozenset(allowed.get(key[1], ()))
        return ips
