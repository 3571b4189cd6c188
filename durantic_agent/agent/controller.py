"""The level-triggered controller.

Anything may call `wake()`; the loop then re-reads everything, computes desired state (a pure function),
and runs each reconciler in a fixed order. There is no per-event handling: a burst of wakes becomes one
pass. A reconciler that fails is recorded and retried with backoff; it never stops the loop.

Order, and why:
  1. policies     before paths, so a new path is filtered by the policy it is meant to meet
  2. paths        in the RIB before sessions come up (graceful restart: EoR follows our routes)
  3. peers        sessions
  4. vips on lo   so local services can bind them whether or not they are announced
  5. fib          kernel routes + WireGuard AllowedIPs from the best paths (mesh issue)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Controller", "ReconcileResult", "Reconciler"]

log = logging.getLogger("durantic.controller")


@dataclass
class ReconcileResult:
    name: str
    ok: bool = True
    error: str | None = None
    changed: int = 0
    at: float = field(default_factory=time.time)


Reconciler = tuple[str, Callable[[], Awaitable[int]]]


class Controller:
    def __init__(self, reconcilers: list[Reconciler], resync_interval: float = 30.0) -> None:
        self.reconcilers = reconcilers
        self.resync_interval = resync_interval
        self._event = asyncio.Event()
        self.results: dict[str, ReconcileResult] = {}
        self.passes = 0
        self._converged = asyncio.Condition()
        self._wake_gen = 0
        self._done_gen = 0

    def wake(self) -> None:
        self._wake_gen += 1
        self._event.set()

    async def wait_converged(self, timeout: float = 10.0) -> bool:
        """Wait until a pass that started after this call has finished without errors."""
        target = self._wake_gen
        self.wake()
        target += 1
        async with self._converged:
            try:
                await asyncio.wait_for(self._converged.wait_for(lambda: self._done_gen >= target), timeout)
            except TimeoutError:
                return False
        return all(r.ok for r in self.results.values())

    async def run_once(self) -> bool:
        ok = True
        for name, fn in self.reconcilers:
            try:
                changed = await fn()
                self.results[name] = ReconcileResult(name, True, None, changed)
                if changed:
                    log.debug("reconciled %s: %d change(s)", name, changed)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # recorded and retried; the loop never dies of one reconciler
                ok = False
                self.results[name] = ReconcileResult(name, False, f"{type(e).__name__}: {e}")
                log.warning("reconcile %s failed: %s", name, e)
        self.passes += 1
        return ok

    async def run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.resync_interval)
            self._event.clear()
            gen = self._wake_gen
            ok = await self.run_once()
            async with self._converged:
                self._done_gen = gen
                self._converged.notify_all()
            if ok:
                backoff = 0.1
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._event.set()
