"""Kernel routes of the overlay FIB, marked with the agent's route protocol number.

The kernel's share of a large install (most of a 50k-route write) runs in a worker thread: `start` begins
it at the top of a pass so it overlaps the WireGuard pass, `reconcile` collects it and writes what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from ...aioutil import gc_paused
from ...core.types import Route
from ..fibsync import FibSync
from ..ports import RouteTable
from ..wanted import Wanted
from .drift import repaired

__all__ = ["RoutesReconciler", "diff", "satisfies"]


class RoutesReconciler:
    name = "fib"

    def __init__(self, table: RouteTable, sync: FibSync, hold: Callable[[], bool] = lambda: False) -> None:
        self.table = table
        self.sync = sync
        self.hold = hold  # while true, routes present stay as they are (restarthold.py): add only
        self.applied: dict[str, Route] | None = None  # None: read the kernel
        self._task: asyncio.Task[int] | None = None
        self._want = Wanted()

    def start(self, want: Wanted) -> None:
        self._want = want
        if self._task is None and want.fib_enabled and self.sync.routes_pending != set():
            self._task = asyncio.create_task(self._apply(want, False), name="kernel-routes")

    async def reconcile(self, want: Wanted, resync: bool) -> int:
        task, self._task = self._task, None
        changes = await task if task is not None else 0
        return changes + await self._apply(want, resync)

    async def close(self) -> None:
        """Wait for a write in flight: its worker thread is using the table's socket."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _apply(self, want: Wanted, resync: bool) -> int:
        pending = self.sync.take_routes()
        if not want.fib_enabled:
            self.sync.routes_pending = None
            return 0
        wanted = want.fib.routes
        current = self.applied
        held = False
        try:
            if current is None or resync:
                present = await self.table.dump()
                if current is not None:
                    with gc_paused():
                        fix, extra = diff(current, present)
                    repaired("routes", len(fix) + len(extra), ", ".join([r.dst for r in fix[:3]] + extra[:3]))
                current, pending = present, None
            # only the destinations that changed since the last pass, unless that is unknown
            with gc_paused():
                to_replace, to_delete = diff(wanted, current, pending)
            if self.hold():
                # what the kernel has stays as it is (RFC 4724's deferred selection): only new ones are added
                kept = len(to_delete) + sum(r.dst in current for r in to_replace)
                held = kept > 0
                to_delete = []
                to_replace = [r for r in to_replace if r.dst not in current]
            if to_delete:
                await self.table.delete(to_delete)
            if to_replace:
                await self.table.replace(to_replace)
        except BaseException:
            self.sync.routes_pending = None  # partly applied, perhaps: diff everything next time
            raise
        if held:
            self.applied = None  # the kernel holds more than wanted: read it again, delete once the hold ends
        elif pending is None or self.applied is None:
            self.applied = dict(wanted)
        else:
            applied = self.applied
            for dst in pending:
                if (r := wanted.get(dst)) is None:
                    applied.pop(dst, None)
                else:
                    applied[dst] = r
        return len(to_replace) + len(to_delete)


def satisfies(have: Route | None, want: Route) -> bool:
    """A wanted route without a device is met by any device: the kernel fills in the gateway's."""
    return have is not None and (
        have == want or (want.dev is None and have == Route(want.dst, have.dev, want.gateway, want.table))
    )


def diff(
    desired: Mapping[str, Route], current: Mapping[str, Route], only: Iterable[str] | None = None
) -> tuple[list[Route], list[str]]:
    """(routes to replace, destinations to delete) turning current into desired; with `only`, just for
    those destinations (the ones known to have changed since `current` was last made equal to `desired`)."""
    if only is not None:
        replace: list[Route] = []
        delete: list[str] = []
        for dst in only:
            r = desired.get(dst)
            have = current.get(dst)
            if r is None:
                if have is not None:
                    delete.append(dst)
            elif not (have is r or satisfies(have, r)):
                replace.append(r)
        replace.sort(key=lambda r: r.dst)
        delete.sort()
        return replace, delete
    # Identity first: the FIB hands out one shared Route per distinct route, so at 100k routes the
    # unchanged ones cost a pointer compare; only the changes are sorted.
    to_replace = sorted(
        (r for dst, r in desired.items() if not ((have := current.get(dst)) is r or satisfies(have, r))),
        key=lambda r: r.dst,
    )
    to_delete = sorted(dst for dst in current if dst not in desired)
    return to_replace, to_delete
