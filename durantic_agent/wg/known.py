"""What a device's peers look like after our last successful set_peers, so the next one need not re-read it.

Re-reading a device with 50,000 allowed IPs, and parsing them, on every pass is costly; the plan only
needs what we put there. The record is dropped whenever it may be wrong (a failed set, an
interface (re)created or restarted) and expires after `max_age`, so drift made by hand is still corrected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from durantic_agent.wg.port import PeerState

__all__ = ["KnownPeers"]


class KnownPeers:
    def __init__(self, max_age: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self._peers: dict[str, tuple[float, Mapping[str, PeerState]]] = {}

    def get(self, ifname: str) -> Mapping[str, PeerState] | None:
        rec = self._peers.get(ifname)
        if rec is None or self.clock() - rec[0] > self.max_age:
            return None
        return rec[1]

    def put(self, ifname: str, peers: Mapping[str, PeerState], read_at: float | None = None) -> None:
        """`read_at`: when the device was last read (the age counts from there, not from each set)."""
        self._peers[ifname] = (self.clock() if read_at is None else read_at, peers)

    def read_at(self, ifname: str) -> float | None:
        rec = self._peers.get(ifname)
        return rec[0] if rec is not None else None

    def forget(self, ifname: str) -> None:
        self._peers.pop(ifname, None)
