"""WireGuard interfaces (one per mesh) and their peers; AllowedIPs follow the FIB."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ...wg.port import PeerSpec as WgPeerSpec
from ..fibsync import FibSync
from ..ports import WireGuardBackend
from ..wanted import Wanted
from .drift import repaired

__all__ = ["WireGuardReconciler"]


class WireGuardReconciler:
    name = "wireguard"

    def __init__(self, sync: FibSync, own_prefix: str, hold: Callable[[], bool] = lambda: False) -> None:
        self.backend: WireGuardBackend | None = None  # set once opened (only with meshes)
        self.sync = sync
        self.hold = hold  # while true, AllowedIPs stay on the peer that has them (restarthold.py): add only
        self.own_prefix = own_prefix  # interfaces carrying it are the agent's; others are never touched
        self._ready: set[str] = set()
        self.applied: dict[str, dict[str, WgPeerSpec]] = {}

    def is_ready(self, ifname: str) -> bool:
        """The interface exists with its key, port and address (made by an earlier pass)."""
        return ifname in self._ready

    def forget(self, ifname: str) -> None:
        """The interface's process or device restarted: set it up again."""
        self._ready.discard(ifname)
        self.applied.pop(ifname, None)

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        # every peer's spec is built before the first await, so the pending changes are consumed whole
        pending = self.sync.take_peers()
        specs = {
            iface.ifname: {
                m.public_key: WgPeerSpec(
                    public_key=m.public_key,
                    endpoint=m.endpoint,
                    allowed_ips=self.sync.peer_allowed(
                        (iface.ifname, m.public_key), pending, want.fib.allowed.get(iface.ifname, {})
                    ),
                    persistent_keepalive=m.persistent_keepalive,
                )
                for m in iface.members
            }
            for iface in want.interfaces.values()
        }
        wg = self.backend
        if wg is None:
            return 0
        changes = 0
        for ifname in await wg.interfaces():
            if ifname not in want.interfaces and ifname.startswith(self.own_prefix):
                await wg.delete_interface(ifname)
                self.forget(ifname)
                changes += 1
        for iface in want.interfaces.values():
            if iface.ifname not in self._ready:
                await wg.ensure_interface(iface.ifname, iface.private_key, iface.listen_port, iface.address)
                self._ready.add(iface.ifname)
                self.applied.pop(iface.ifname, None)
                changes += 1
            peers = specs[iface.ifname]
            held = False
            if self.hold():
                peers, held = await _keep_present(wg, iface.ifname, peers)
            applied = self.applied.get(iface.ifname)
            if resync and applied is not None:
                dev = await wg.device(iface.ifname)
                have = {k: p.allowed_ips for k, p in dev.peers.items()}
                off = [k for k, p in applied.items() if have.get(k) != p.allowed_ips] + [
                    k for k in have if k not in applied
                ]
                if off:
                    repaired("wireguard", len(off), f"peers of {iface.ifname}")
                    wg.forget(iface.ifname)
                    applied = None
            if applied != peers:
                await wg.set_peers(iface.ifname, peers)
                self.applied[iface.ifname] = peers
                changes += 1
            if held:
                self.applied.pop(iface.ifname, None)  # more than wanted: shrink to it once the hold ends
        return changes


async def _keep_present(
    wg: WireGuardBackend, ifname: str, peers: dict[str, WgPeerSpec]
) -> tuple[dict[str, WgPeerSpec], bool]:
    """`peers` as a restart hold wants them: every AllowedIP present stays on the peer that has it (neither
    removed nor moved: a path gobgpd briefly prefers while its sessions come back, such as a relay's,
    need not forward), those present nowhere are added where wanted; and whether that differs from `peers`."""
    dev = await wg.device(ifname)
    owner = {ip: key for key, have in dev.peers.items() if key in peers for ip in have.allowed_ips}
    out = {}
    held = False
    for key, spec in peers.items():
        have = dev.peers.get(key)
        keep = frozenset(ip for ip in spec.allowed_ips if owner.get(ip, key) == key)
        if have is not None:
            keep |= have.allowed_ips
        if keep != spec.allowed_ips:
            held = True
            spec = dataclasses.replace(spec, allowed_ips=keep)
        out[key] = spec
    return out, held
