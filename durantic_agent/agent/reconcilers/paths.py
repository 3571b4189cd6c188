"""Local paths in gobgpd: the agent's announcements and its own mesh addresses."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...core.types import PathSpec
from ..ports import BgpSpeaker
from ..wanted import Wanted
from .drift import repaired

__all__ = ["PathsReconciler"]

Observer = Callable[[Sequence[PathSpec], Sequence[PathSpec]], None]


class PathsReconciler:
    name = "paths"

    def __init__(self, speaker: BgpSpeaker, observe: Observer | None = None) -> None:
        self.speaker = speaker
        self.observe = observe
        self.applied: dict[str, PathSpec] | None = None  # None: unknown (adopted gobgpd): read it

    def forget(self, empty: bool) -> None:
        """gobgpd restarted (`empty`: it holds none of our paths) or was adopted (unknown)."""
        self.applied = {} if empty else None

    def replay(self) -> None:
        """Re-add every path on the next pass: local paths meet the import policy only when added."""
        if self.applied is not None:
            self.applied = {}

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        d = want.desired.paths
        if self.applied is None:
            # Adopted gobgpd: re-add what we want (replacing is harmless) and drop local paths we don't.
            present = await self.speaker.local_paths()
            stale = [PathSpec(prefix=p) for p in present if p not in d]
            await self.speaker.delete_paths(stale)
            await self.speaker.add_paths(d.values())
            self.applied = dict(d)
            return len(stale) + len(d)
        applied = self.applied
        if resync and applied:
            present = await self.speaker.local_paths(list(applied))
            gone = [p for p in applied if p not in present]
            repaired("paths", len(gone), ", ".join(sorted(gone)[:5]))
            for p in gone:
                del applied[p]
        remove = [s for p, s in applied.items() if p not in d]
        add = [s for p, s in d.items() if p not in applied or applied[p].attrs() != s.attrs()]
        if remove:
            await self.speaker.delete_paths(remove)
            for s in remove:
                applied.pop(s.prefix, None)
        if add:
            await self.speaker.add_paths(add)
            for s in add:
                applied[s.prefix] = s
        if self.observe is not None and (remove or add):
            self.observe(remove, add)
        return len(remove) + len(add)
