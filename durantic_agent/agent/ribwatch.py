"""gobgpd's best paths, kept in memory for the FIB: one watch stream, resubscribed after a gobgpd restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..core.types import BestPath
from ..errors import SidecarError
from ..gobgp.sidecar import Sidecar
from ..gobgp.watch import watch_best
from .fibsync import FibSync

__all__ = ["RibWatch"]

log = logging.getLogger("durantic.agent")


class RibWatch:
    def __init__(self, sidecar: Sidecar, sync: FibSync, wake: Callable[[], None]) -> None:
        self.sidecar = sidecar
        self.sync = sync
        self.wake = wake  # batched: a burst of 50k best paths is a handful of passes
        self.best: dict[str, BestPath] = {}

    async def run(self) -> None:
        while True:
            await self.sidecar.ready.wait()
            client = self.sidecar.client
            if client is None:
                await asyncio.sleep(0.05)
                continue
            try:
                seen = 0
                sync = self.sync
                async for init, changes in watch_best(client, known=lambda: self.best):
                    if init:
                        self.best = {}
                        sync.best_reset()
                    for bp, withdrawn in changes:
                        if withdrawn:
                            self.best.pop(bp.prefix, None)
                            sync.best_change(bp.prefix, None)
                        else:
                            self.best[bp.prefix] = bp
                            sync.best_change(bp.prefix, bp)
                    self.wake()
                    seen += len(changes)
                    # a snapshot is the whole table: not kept while the next batch is awaited
                    del changes
                    if seen >= 512:
                        # A backlog of buffered events is read without ever suspending: yield now and
                        # then so the API and the reconcilers are not starved during a burst.
                        seen = 0
                        await asyncio.sleep(0)
            except SidecarError as e:
                log.debug("best-path watch ended: %s", e)
            await asyncio.sleep(0.05)
