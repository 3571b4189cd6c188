"""Policy objects and the global import/export assignment in gobgpd."""

from __future__ import annotations

from collections.abc import Callable

from ...core.policies import PolicyChange, PolicyProgram
from ..ports import BgpSpeaker
from ..wanted import Wanted
from .drift import repaired

__all__ = ["PoliciesReconciler"]


class PoliciesReconciler:
    name = "policies"

    def __init__(self, speaker: BgpSpeaker, on_change: Callable[[PolicyChange], None] | None = None) -> None:
        self.speaker = speaker
        self.on_change = on_change
        self.applied: PolicyProgram | None = None

    def forget(self) -> None:
        self.applied = None

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        if want.policies == self.applied and not resync:
            return 0
        change = await self.speaker.apply_policies(want.policies)
        if resync and want.policies == self.applied and change.changed:
            repaired("policies", 1, "policy objects or assignments in gobgpd")
        self.applied = want.policies
        if self.on_change is not None and change.changed:
            self.on_change(change)
        return (
            len(change.added_sets)
            + len(change.deleted_sets)
            + len(change.added_policies)
            + int(change.import_changed or change.export_changed)
        )
