"""Runs every health check on one asyncio loop and keeps their state (see fsm.py for the rules).

One task per check sleeps to its next slot on a fixed grid `t0 + k * interval` (t0 = start + random
jitter within one interval), so probe durations never accumulate into drift and 1,000 checks spread
out instead of firing together. A slot missed entirely (the loop was blocked) is skipped, not queued.

t0 is rounded up to a multiple of SLOT_QUANTUM on the loop clock, shared by all checks: the loop then
wakes once for the few probes due in a quantum instead of once per probe (at 1,000 probes a second,
waking per probe costs more CPU than the probes).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from ..aioutil import wake_future
from ..validation import format_duration
from .fsm import Counters, FlapState, State, Transition, flap_step, held_down, passing, step
from .metrics import CheckMetrics, default_metrics
from .probes import ProbeContext, ProbeResult, probe
from .spec import HealthCheck

__all__ = ["CheckStatus", "HealthEngine", "ProbeFn", "TransitionRecord"]

log = logging.getLogger(__name__)

ProbeFn = Callable[[HealthCheck], Awaitable[ProbeResult]]
RECENT_TRANSITIONS = 10
SLOT_QUANTUM = 0.01
"""Seconds; probe slots fall on multiples of it (interval being whole milliseconds, most do for good)."""
_TIMEOUT_GRACE = 0.5


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    at: float
    """Wall clock (time.time())."""
    from_state: State
    to_state: State
    detail: str
    """The deciding probe's detail, or why (e.g. 'disabled', 'check changed')."""


@dataclass(frozen=True, slots=True)
class CheckStatus:
    state: State
    passing: bool
    """What the controller acts on: state is up/falling and the check is not held down."""
    held_down: bool
    held_down_until: float | None
    """Wall clock end of the current flap hold-down, None when not held."""
    last_ok: bool | None
    last_detail: str
    last_output: str
    last_latency: float | None
    last_probe_at: float | None
    """Wall clock end of the last probe."""
    last_drift: float | None
    """How late the last probe started relative to its grid slot, in seconds."""
    probes: int
    transitions: int
    last_transition_at: float | None
    recent: tuple[TransitionRecord, ...]
    """Newest last, at most RECENT_TRANSITIONS."""
    decided_at_monotonic: float | None
    """time.monotonic() at the end of the probe that caused the last transition (failover timing)."""
    consecutive_passes: int
    consecutive_fails: int


def slot_origin(t: float, quantum: float = SLOT_QUANTUM) -> float:
    """`t` rounded up to the shared grid of `quantum`."""
    return math.ceil(t / quantum) * quantum


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    # Not asyncio.sleep(when - loop.time()): that re-reads the clock, so checks sharing a slot would get
    # timers a few microseconds apart instead of one deadline the loop serves in a single wake-up.
    fut = loop.create_future()
    handle = loop.call_at(when, wake_future, fut)
    try:
        await fut
    finally:
        handle.cancel()


class _Check:
    __slots__ = (
        "counters",
        "decided_at",
        "drift",
        "flap",
        "hold_timer",
        "last",
        "last_probe_at",
        "name",
        "probes",
        "recent",
        "spec",
        "state",
        "task",
        "transitions",
    )

    def __init__(self, name: str, spec: HealthCheck) -> None:
        self.name = name
        self.spec = spec
        self.state = State.INITIAL
        self.counters = Counters()
        self.flap = FlapState()
        self.hold_timer: asyncio.TimerHandle | None = None
        self.last: ProbeResult | None = None
        self.last_probe_at: float | None = None
        self.drift: float | None = None
        self.probes = 0
        self.transitions = 0
        self.recent: deque[TransitionRecord] = deque(maxlen=RECENT_TRANSITIONS)
        self.decided_at: float | None = None
        self.task: asyncio.Task[None] | None = None

    def effective(self, now: float) -> bool:
        return passing(self.state) and not held_down(self.flap, now)


class HealthEngine:
    """Health state of named checks.

    `on_change` is called (synchronously, from the loop) after every state transition and when a
    hold-down ends; it must be cheap and must not block (set an asyncio.Event).
    If a check task dies of a bug, `failed` holds the exception and `on_change` is called, so the
    controller can take the process down (crash-only).
    """

    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        probe_fn: ProbeFn | None = None,
        metrics: CheckMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._on_change = on_change
        self._ctx = ProbeContext()
        self._probe: ProbeFn = probe_fn or (lambda spec: probe(spec, self._ctx))
        # probe() keeps to spec.timeout itself; only an injected probe function needs a guard timer.
        self._guard = probe_fn is not None
        self._metrics = metrics or default_metrics()
        self._rng = rng or random.Random()
        self._checks: dict[str, _Check] = {}
        self._retired: set[asyncio.Task[None]] = set()
        self._running = False
        self.failed: BaseException | None = None

    # --- configuration --------------------------------------------------------------------------

    def set_checks(self, checks: Mapping[str, HealthCheck]) -> None:
        """Converge on exactly these checks. Unchanged ones keep running untouched; a changed one is
        restarted, keeping its state when only timing/thresholds changed and starting from `initial`
        when what it probes changed."""
        changed = False
        for name in [n for n in self._checks if n not in checks]:
            gone = self._checks.pop(name)
            changed |= gone.effective(time.monotonic())
            self._retire(gone)
            self._metrics.remove(name)
        for name, spec in checks.items():
            c = self._checks.get(name)
            if c is None:
                c = self._checks[name] = _Check(name, spec)
                self._metrics.set_state(name, c.state, False)
            elif c.spec == spec:
                continue
            else:
                self._retire(c)
                same_probe = c.spec.same_probe(spec)
                c.spec = spec
                if spec.flap is None:
                    c.flap = FlapState()
                if not same_probe and c.state is not State.DISABLED:
                    changed |= c.effective(time.monotonic())
                    c.counters = Counters()
                    c.flap = FlapState()
                    self._transition(c, Transition(c.state, State.INITIAL), "check changed", notify=False)
            if self._running:
                self._spawn(c)
        if changed:
            self._on_change()

    def disable(self, name: str) -> None:
        """Stop probing and withdraw. Raises KeyError for an unknown check."""
        c = self._checks[name]
        if c.state is not State.DISABLED:
            c.counters = Counters()
            self._transition(c, Transition(c.state, State.DISABLED), "disabled")

    def enable(self, name: str) -> None:
        """Resume probing from `initial`: advertised again after healthy_threshold passes."""
        c = self._checks[name]
        if c.state is State.DISABLED:
            c.counters = Counters()
            self._transition(c, Transition(c.state, State.INITIAL), "enabled")

    # --- queries --------------------------------------------------------------------------------

    def passing(self, name: str) -> bool:
        """False for an unknown check: an announcement without a known healthy check is not advertised."""
        c = self._checks.get(name)
        return c is not None and c.effective(time.monotonic())

    def names(self) -> list[str]:
        return list(self._checks)

    def status(self, name: str) -> CheckStatus:
        return self._status(self._checks[name], time.monotonic(), time.time())

    def statuses(self) -> dict[str, CheckStatus]:
        mono, wall = time.monotonic(), time.time()
        return {n: self._status(c, mono, wall) for n, c in self._checks.items()}

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        for c in self._checks.values():
            if c.task is None:
                self._spawn(c)

    async def stop(self) -> None:
        """Cancel every check task and wait for each to finish (exec probes reap their processes)."""
        self._running = False
        for c in self._checks.values():
            self._retire(c)
        tasks = list(self._retired)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retired.clear()
        await self._ctx.aclose()

    # --- internals ------------------------------------------------------------------------------

    def _spawn(self, c: _Check) -> None:
        task = asyncio.get_running_loop().create_task(self._run(c, c.spec), name=f"health:{c.name}")
        task.add_done_callback(self._task_done)
        c.task = task

    def _retire(self, c: _Check) -> None:
        if c.hold_timer is not None and c.name not in self._checks:
            c.hold_timer.cancel()
            c.hold_timer = None
        if c.task is not None:
            c.task.cancel()
            if not c.task.done():
                self._retired.add(c.task)
            c.task = None

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._retired.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.critical("health check task %s died", task.get_name(), exc_info=exc)
            self.failed = exc
            self._on_change()

    async def _run(self, c: _Check, spec: HealthCheck) -> None:
        loop = asyncio.get_running_loop()
        interval = spec.interval
        t0 = slot_origin(loop.time() + self._rng.uniform(0.0, interval), SLOT_QUANTUM)
        k = 0
        while True:
            due = t0 + k * interval
            if due > loop.time():
                await _sleep_until(loop, due)
            drift = loop.time() - due
            if c.state is not State.DISABLED:
                result = await (self._probe_within(spec) if self._guard else self._probe(spec))
                if c.spec is spec:  # not replaced while the probe ran
                    self._apply(c, result, drift)
            k += 1
            behind = loop.time() - (t0 + k * interval)
            if behind >= interval:
                k += int(behind // interval)  # skip whole missed slots; run the latest one now

    async def _probe_within(self, spec: HealthCheck) -> ProbeResult:
        # Guards against an injected probe function that overruns, so one check can never stall its
        # schedule (probe() keeps to spec.timeout and cleans up exec processes itself).
        start = time.monotonic()
        try:
            async with asyncio.timeout(spec.timeout + _TIMEOUT_GRACE):
                return await self._probe(spec)
        except TimeoutError:
            return ProbeResult(False, f"timeout after {format_duration(spec.timeout)}", time.monotonic() - start)

    def _apply(self, c: _Check, result: ProbeResult, drift: float) -> None:
        now = time.monotonic()
        spec = c.spec
        c.probes += 1
        c.last = result
        c.last_probe_at = time.time()
        c.drift = drift
        self._metrics.probe(c.name, result.latency, drift, result.ok)
        _, c.counters, tr = step(c.state, c.counters, result.ok, spec.healthy_threshold, spec.unhealthy_threshold)
        if tr is None:
            return
        if spec.flap is not None:
            before = c.flap.held_until
            c.flap = flap_step(
                c.flap,
                now,
                passing(tr.from_state) != passing(tr.to_state),
                spec.flap.max_changes,
                spec.flap.window,
                spec.flap.hold_down,
            )
            if c.flap.held_until is not None and c.flap.held_until != before:
                self._arm_hold_timer(c, c.flap.held_until - now)
        self._transition(c, tr, result.detail, decided_at=now)

    def _transition(
        self, c: _Check, tr: Transition, detail: str, *, notify: bool = True, decided_at: float | None = None
    ) -> None:
        c.state = tr.to_state
        c.transitions += 1
        c.recent.append(TransitionRecord(time.time(), tr.from_state, tr.to_state, detail))
        c.decided_at = time.monotonic() if decided_at is None else decided_at
        self._metrics.transition(c.name, tr.to_state)
        self._metrics.set_state(c.name, c.state, c.effective(time.monotonic()))
        if notify:
            self._on_change()

    def _arm_hold_timer(self, c: _Check, delay: float) -> None:
        if c.hold_timer is not None:
            c.hold_timer.cancel()
        c.hold_timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self._hold_over, c)

    def _hold_over(self, c: _Check) -> None:
        c.hold_timer = None
        if self._checks.get(c.name) is not c:
            return
        self._metrics.set_state(c.name, c.state, c.effective(time.monotonic()))
        self._on_change()

    def _status(self, c: _Check, mono: float, wall: float) -> CheckStatus:
        held = held_down(c.flap, mono)
        last = c.last
        return CheckStatus(
            state=c.state,
            passing=c.effective(mono),
            held_down=held,
            held_down_until=(wall + (c.flap.held_until - mono)) if held and c.flap.held_until else None,
            last_ok=last.ok if last else None,
            last_detail=last.detail if last else "",
            last_output=last.output if last else "",
            last_latency=last.latency if last else None,
            last_probe_at=c.last_probe_at,
            last_drift=c.drift,
            probes=c.probes,
            transitions=c.transitions,
            last_transition_at=c.recent[-1].at if c.recent else None,
            recent=tuple(c.recent),
            decided_at_monotonic=c.decided_at,
            consecutive_passes=c.counters.passes,
            consecutive_fails=c.counters.fails,
        )
