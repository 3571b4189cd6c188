"""VIPs bound on `lo`: every VIP of this machine, announced or not, so local services can bind it."""

from __future__ import annotations

from ..ports import Loopback
from ..wanted import Wanted
from .drift import repaired

__all__ = ["VipsReconciler"]


class VipsReconciler:
    name = "vips"

    def __init__(self, loopback: Loopback) -> None:
        self.loopback = loopback
        self.applied: set[str] | None = None  # None: read back what an earlier run left marked on lo

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        wanted = set(want.desired.vips)
        before = self.applied
        if before is None or resync:
            present = await self.loopback.owned()
            if before is not None:
                repaired("vips", len(before ^ present), ", ".join(sorted(before ^ present)[:5]))
            before = present
        if before != wanted:
            await self.loopback.ensure(wanted)
        self.applied = wanted
        return len(before ^ wanted)
