"""BGP sessions in gobgpd: one per mesh member and external neighbour, marked with a fingerprint."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...core.types import PeerSpec
from ..ports import BgpSpeaker
from ..wanted import Wanted
from .drift import repaired

__all__ = ["PeersReconciler"]


class PeersReconciler:
    name = "peers"

    def __init__(
        self,
        speaker: BgpSpeaker,
        local_restarting: Callable[[], bool],
        select: Callable[[Wanted], Mapping[str, PeerSpec]] = lambda w: w.desired.peers,
    ) -> None:
        self.speaker = speaker
        self.select = select  # which gobgpd's sessions: the agent's own, or a route server's
        self.local_restarting = local_restarting  # tell new sessions we restart (graceful restart)
        self.applied: dict[str, str] | None = None  # address -> fingerprint, as last made

    def forget(self) -> None:
        self.applied = None

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        d = self.select(want)
        current = await self.speaker.owned_peers()  # cheap (ListPeer): read on every pass
        if self.applied is not None:
            changed = [a for a, fp in self.applied.items() if current.get(a) != fp]
            repaired("peers", len(changed), ", ".join(sorted(changed)[:5]))
        changes = 0
        for addr, fp in current.items():
            spec = d.get(addr)
            if spec is None or spec.fingerprint() != fp:
                await self.speaker.delete_peer(addr)
                changes += 1
        for addr, spec in d.items():
            if current.get(addr) != spec.fingerprint():
                await self.speaker.add_peer(spec, self.local_restarting())
                changes += 1
        self.applied = {a: s.fingerprint() for a, s in d.items()}
        return changes
