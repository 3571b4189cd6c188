"""The level-triggered controller.

Anything may call `wake()`; the loop then computes what is wanted once (pure functions of the inputs)
and hands it to each reconciler in a fixed order. There is no per-event handling: a burst of wakes
becomes one pass. A reconciler that fails is recorded and retried with backoff; it never stops the loop.

A wake may name the reconcilers its change can affect (a health check's change: policies and paths, not
a ListPeer of every session); batched and unscoped wakes run everything. Every `resync_interval`, busy
or not, a resync pass runs everything with `resync=True`: each reconciler then reads the current state
back from gobgpd, the kernel or WireGuard instead of trusting what it last applied, so state changed
behind the agent's back is put back.

The agent's order (agent/app.py), and why:
  1. policies     before paths, so a new path is filtered by the policy it is meant to meet
  2. paths        in the RIB before sessions come up (graceful restart: EoR follows our routes)
  3. wireguard    interfaces and AllowedIPs before sessions: mesh sessions ride the tunnel
  4. peers        sessions
  5. vips on lo   so local services can bind them whether or not they are announced
  6. fib          kernel routes from the best paths (started at the top of the pass, in a thread)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ..metrics import AGENT_METRICS

__all__ = ["Controller", "ReconcileResult", "Reconciler"]

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)

log = logging.getLogger("durantic.controller")


@dataclass
class ReconcileResult:
    name: str
    ok: bool = True
    error: str | None = None
    changed: int = 0
    at: float = field(default_factory=time.time)
    seconds: float = 0.0  # how long this pass of the reconciler took


class Reconciler(Protocol[W_contra]):
    name: str

    async def reconcile(self, want: W_contra, resync: bool) -> int:
        """Make the current state equal to `want`; with `resync`, read it back first. Returns changes."""
        ...


class Controller(Generic[W]):
    def __init__(
        self, reconcilers: Sequence[Reconciler[W]], compute: Callable[[], W], resync_interval: float = 30.0
    ) -> None:
        self.reconcilers = list(reconcilers)
        self.compute = compute
        self.resync_interval = resync_interval
        self.resyncs = 0
        self._event = asyncio.Event()
        self.results: dict[str, ReconcileResult] = {}
        self.passes = 0
        self._converged = asyncio.Condition()
        self._wake_gen = 0
        self._done_gen = 0
        self._running = False
        self._last_end = 0.0
        self._last_dur = 0.0
        self._batch_timer: asyncio.TimerHandle | None = None
        self._batch_after_pass = False
        self._names = frozenset(r.name for r in self.reconcilers)
        self._next_resync = time.monotonic() + resync_interval
        self._want: set[str] = set()  # reconcilers the next pass runs

    def wake(self, only: Iterable[str] | None = None) -> None:
        """Run a pass; `only` names the reconcilers the change can affect (default: all of them). Wakes
        before a pass starts are merged, scopes included."""
        self._want.update(self._names if only is None else only)
        self._wake_gen += 1
        self._event.set()

    def wake_batched(self) -> None:
        """Wake for changes that come in bursts (best paths from gobgpd). An idle controller starts at once;
        otherwise the next pass waits a gap as long as the last pass (at most 1 s). A pass costs O(table)
        and the event stream only advances while the loop is free, so waking per event would take a burst
        of 50k routes a handful per pass.

        Always a full pass: scoped passes would be short, so the gap would be short too, and each extra
        pass costs an AllowedIPs write to WireGuard."""
        if self._batch_timer is not None or self._batch_after_pass:
            return
        if self._running:
            self._batch_after_pass = True
            return
        gap = self._last_end + self._last_dur - time.monotonic()
        if gap <= 0:
            self._fire_batched()
        else:
            self._batch_timer = asyncio.get_running_loop().call_later(gap, self._fire_batched)

    def _fire_batched(self) -> None:
        self._batch_timer = None
        self.wake()

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

    async def run_once(self, only: set[str] | None = None, resync: bool = False) -> bool:
        ok = True
        try:
            want = self.compute()
        except Exception as e:  # an input the pure functions refuse: nothing is applied this pass
            self.results["desired"] = ReconcileResult("desired", False, f"{type(e).__name__}: {e}")
            log.warning("computing the desired state failed: %s", e)
            self.passes += 1
            return False
        self.results.pop("desired", None)
        run = [r for r in self.reconcilers if only is None or r.name in only]
        for r in run:
            start = getattr(r, "start", None)
            if start is not None:
                start(want)  # work that overlaps the reconcilers before it (kernel writes in a thread)
        for r in run:
            name = r.name
            t0 = time.perf_counter()
            try:
                changed = await r.reconcile(want, resync)
                took = time.perf_counter() - t0
                self.results[name] = ReconcileResult(name, True, None, changed, seconds=took)
                if changed:
                    log.debug("reconciled %s: %d change(s) in %.1f ms", name, changed, took * 1000)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # recorded and retried; the loop never dies of one reconciler
                ok = False
                took = time.perf_counter() - t0
                self.results[name] = ReconcileResult(name, False, f"{type(e).__name__}: {e}", seconds=took)
                AGENT_METRICS.reconcile_errors.labels(name).inc()
                log.warning("reconcile %s failed: %s", name, e)
            AGENT_METRICS.reconcile_seconds.labels(name).observe(took)
        self.passes += 1
        return ok

    async def run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), max(0.0, self._next_resync - time.monotonic()))
            resync = time.monotonic() >= self._next_resync
            if resync:
                self._want.update(self._names)  # the periodic resync re-checks everything
                self._next_resync = time.monotonic() + self.resync_interval
                self.resyncs += 1
            self._event.clear()
            gen = self._wake_gen
            only, self._want = self._want, set()
            t0 = time.monotonic()
            self._running = True
            try:
                ok = await self.run_once(only, resync)
            finally:
                self._running = False
            self._last_end = time.monotonic()
            self._last_dur = min(self._last_end - t0, 1.0)
            if self._batch_after_pass:
                self._batch_after_pass = False
                self._batch_timer = asyncio.get_running_loop().call_later(self._last_dur, self._fire_batched)
            async with self._converged:
                self._done_gen = gen
                self._converged.notify_all()
            if ok:
                backoff = 0.1
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._want.update(self._names)
                self._event.set()
