"""HealthEngine with real probes against real local servers, plus its schedule and bookkeeping."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from durantic_agent.aioutil import wake_future
from durantic_agent.health.engine import SLOT_QUANTUM, CheckStatus, HealthEngine, slot_origin
from durantic_agent.health.fsm import State
from durantic_agent.health.probes import ProbeResult
from durantic_agent.health.spec import HealthCheck

from .conftest import eventually


class Recorder:
    """The controller's side: on_change only records (cheap, non-blocking), like setting an Event."""

    def __init__(self) -> None:
        self.engine: HealthEngine | None = None
        self.seen: list[dict[str, CheckStatus]] = []

    def __call__(self) -> None:
        assert self.engine is not None
        self.seen.append(self.engine.statuses())

    def states(self, name: str) -> list[State]:
        out: list[State] = []
        for snap in self.seen:
            if name in snap and (not out or out[-1] is not snap[name].state):
                out.append(snap[name].state)
        return out


@pytest.fixture
async def engine() -> AsyncIterator[tuple[HealthEngine, Recorder]]:
    rec = Recorder()
    eng = HealthEngine(rec, rng=random.Random(7))
    rec.engine = eng
    await eng.start()
    try:
        yield eng, rec
    finally:
        await eng.stop()


def tcp_check(port: int, **kw: Any) -> HealthCheck:
    return HealthCheck.model_validate(
        {"tcp": {"host": "127.0.0.1", "port": port}, "interval": "100ms", "timeout": "100ms", **kw}
    )


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _listen(port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_pass_fail_pass_follows_thresholds(engine: tuple[HealthEngine, Recorder]) -> None:
    eng, rec = engine
    server = await _listen(0)
    port = server.sockets[0].getsockname()[1]
    eng.set_checks({"web": tcp_check(port, healthy_threshold=2, unhealthy_threshold=3)})
    assert not eng.passing("web")
    assert await eventually(lambda: eng.passing("web"))
    assert rec.states("web") == [State.RISING, State.UP]
    up = eng.status("web")
    assert (up.last_ok, up.last_detail, up.consecutive_passes >= 2) == (True, "connected", True)

    server.close()
    await server.wait_closed()
    assert await eventually(lambda: eng.status("web").state is State.DOWN)
    assert rec.states("web") == [State.RISING, State.UP, State.FALLING, State.DOWN]
    # still advertised while falling; withdrawn exactly at the third consecutive failure
    falling = [s["web"] for s in rec.seen if s["web"].state is State.FALLING]
    assert falling[0].passing and falling[0].consecutive_fails == 1
    down = next(s["web"] for s in rec.seen if s["web"].state is State.DOWN)
    assert (down.passing, down.consecutive_fails, down.last_detail) == (False, 3, "connection refused")
    assert down.decided_at_monotonic is not None and down.decided_at_monotonic <= time.monotonic()
    assert [(t.from_state, t.to_state) for t in down.recent] == [
        (State.INITIAL, State.RISING),
        (State.RISING, State.UP),
        (State.UP, State.FALLING),
        (State.FALLING, State.DOWN),
    ]
    assert down.recent[-1].detail == "connection refused"
    assert metric("durantic_check_state", check="web", state="down") == 1
    assert metric("durantic_check_state", check="web", state="up") == 0
    assert (metric("durantic_check_transitions_total", check="web", to="down") or 0) >= 1
    assert metric("durantic_check_last_probe_duration_seconds", check="web") is not None
    assert (metric("durantic_check_probes_total", result="fail") or 0) >= 3

    server = await _listen(port)
    try:
        assert await eventually(lambda: eng.passing("web"))
        assert rec.states("web")[-2:] == [State.RISING, State.UP]
    finally:
        server.close()
        await server.wait_closed()


async def test_drift_free_grid_with_slow_probes() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    rng = random.Random(1)

    async def slow_probe(spec: HealthCheck) -> ProbeResult:
        calls.append(loop.time())
        await asyncio.sleep(rng.uniform(0.0, 0.08))  # variable probe time must not push the schedule
        return ProbeResult(True, "ok", 0.0)

    eng = HealthEngine(lambda: None, probe_fn=slow_probe, rng=random.Random(3))
    eng.set_checks({"grid": tcp_check(1)})
    start = loop.time()
    await eng.start()
    await asyncio.sleep(1.55)
    await eng.stop()
    assert len(calls) >= 13
    assert calls[0] - start < 0.1 + 0.03  # start-up jitter stays within the first interval
    # Probe k starts at its slot origin + k * interval or a little later, and lateness does not accumulate:
    # a drifting schedule would fall a whole slot behind. The origin is estimated from the least-late
    # probe. How late, is load: the benchmark reports drift, this test does not time it.
    origin = min(t - k * 0.1 for k, t in enumerate(calls))
    slots = [(t - origin) / 0.1 for t in calls]
    assert [int(s + 1e-6) for s in slots] == list(range(len(calls))), slots  # no slot skipped, none doubled
    assert eng.names() == ["grid"]


async def test_jitter_spreads_checks_over_the_interval() -> None:
    first: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def record(spec: HealthCheck) -> ProbeResult:
        first.setdefault(str(spec.tcp.port if spec.tcp else 0), loop.time())
        return ProbeResult(True, "ok", 0.0)

    eng = HealthEngine(lambda: None, probe_fn=record, rng=random.Random(5))
    eng.set_checks(
        {
            f"c{i}": HealthCheck.model_validate({"tcp": {"host": "h", "port": i + 1}, "interval": "500ms"})
            for i in range(50)
        }
    )
    start = loop.time()
    await eng.start()
    await eventually(lambda: len(first) == 50, limit=2.0)
    await eng.stop()
    offsets = sorted(t - start for t in first.values())
    assert len(offsets) == 50 and offsets[-1] < 0.5 + 0.05  # all within the first interval
    assert offsets[-1] - offsets[0] > 0.25  # spread out, not a thundering herd


def test_slot_origin_rounds_up_to_the_shared_grid() -> None:
    assert slot_origin(1.2341, 0.01) == pytest.approx(1.24)
    assert slot_origin(1.24, 0.01) == pytest.approx(1.24)
    assert slot_origin(7.0, 0.5) == 7.0
    assert slot_origin(7.01, 0.5) == 7.5


async def test_checks_share_slots_on_the_quantum_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slots on a shared grid let the loop wake once for several probes instead of once per probe.
    loop = asyncio.get_running_loop()
    wakes: list[float] = []
    call_at = loop.call_at

    def spy(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        if callback is wake_future:
            wakes.append(when)
        return call_at(when, callback, *args, **kw)

    monkeypatch.setattr(loop, "call_at", spy)

    async def ok(spec: HealthCheck) -> ProbeResult:
        return ProbeResult(True, "ok", 0.0)

    eng = HealthEngine(lambda: None, probe_fn=ok, rng=random.Random(9))
    eng.set_checks(
        {
            f"c{i}": HealthCheck.model_validate({"tcp": {"host": "h", "port": i + 1}, "interval": "200ms"})
            for i in range(100)
        }
    )
    await eng.start()
    await eventually(lambda: len(wakes) >= 300, limit=2.0)
    await eng.stop()
    assert all(abs(w / SLOT_QUANTUM - round(w / SLOT_QUANTUM)) < 1e-6 for w in wakes), wakes
    # 100 checks every 200 ms share at most 20 slots a round, and still spread over the interval.
    first = sorted(wakes[:100])
    slots = {round(w / SLOT_QUANTUM) for w in wakes if w < first[0] + 0.2 - SLOT_QUANTUM / 2}
    assert 10 <= len(slots) <= 0.2 / SLOT_QUANTUM


async def test_set_checks_keeps_restarts_and_removes(
    engine: tuple[HealthEngine, Recorder], tcp_server: asyncio.Server
) -> None:
    eng, rec = engine
    port = tcp_server.sockets[0].getsockname()[1]
    eng.set_checks({"a": tcp_check(port, healthy_threshold=1), "b": tcp_check(port, healthy_threshold=1)})
    assert await eventually(lambda: eng.passing("a") and eng.passing("b"))
    n = len(rec.seen)
    # same spec: untouched; timing change: state kept; probe change: starts over
    eng.set_checks(
        {
            "a": tcp_check(port, healthy_threshold=1),
            "b": tcp_check(port, healthy_threshold=1, interval="200ms"),
            "c": tcp_check(port, healthy_threshold=1),
        }
    )
    assert eng.status("a").state is State.UP and eng.status("b").state is State.UP
    assert eng.passing("b")
    eng.set_checks({"b": tcp_check(port + 1 if port < 65535 else port - 1), "c": tcp_check(port, healthy_threshold=1)})
    assert eng.status("b").state is State.INITIAL and not eng.passing("b")
    assert eng.status("b").recent[-1].detail == "check changed"
    assert len(rec.seen) > n  # b stopped passing: the controller was told
    assert "a" not in eng.statuses() and not eng.passing("a")
    assert metric("durantic_check_state", check="a", state="up") is None
    assert metric("durantic_check_last_probe_duration_seconds", check="a") is None


async def test_disable_enable(engine: tuple[HealthEngine, Recorder], tcp_server: asyncio.Server) -> None:
    eng, rec = engine
    port = tcp_server.sockets[0].getsockname()[1]
    eng.set_checks({"d": tcp_check(port, healthy_threshold=1)})
    assert await eventually(lambda: eng.passing("d"))
    eng.disable("d")
    assert eng.status("d").state is State.DISABLED and not eng.passing("d")
    assert rec.seen[-1]["d"].state is State.DISABLED
    probes = eng.status("d").probes
    await asyncio.sleep(0.35)
    assert eng.status("d").probes == probes  # not probed while disabled
    eng.enable("d")
    assert eng.status("d").state is State.INITIAL
    assert await eventually(lambda: eng.passing("d"))
    with pytest.raises(KeyError):
        eng.disable("nope")


async def test_flap_hold_down_is_visible_and_ends() -> None:
    rec = Recorder()
    outcome = {"ok": True}

    async def scripted(spec: HealthCheck) -> ProbeResult:
        return ProbeResult(outcome["ok"], "ok" if outcome["ok"] else "bad", 0.001)

    flappy = HealthEngine(rec, probe_fn=scripted, rng=random.Random(2))
    rec.engine = flappy
    spec = tcp_check(
        1, healthy_threshold=1, unhealthy_threshold=1, flap={"max_changes": 2, "window": "10s", "hold_down": "600ms"}
    )
    flappy.set_checks({"f": spec})
    await flappy.start()
    try:
        assert await eventually(lambda: flappy.passing("f"))  # change 1
        outcome["ok"] = False
        assert await eventually(lambda: flappy.status("f").state is State.DOWN)  # change 2
        outcome["ok"] = True
        assert await eventually(lambda: flappy.status("f").state is State.UP)  # change 3: held down
        st = flappy.status("f")
        assert st.held_down and not st.passing and st.held_down_until is not None
        assert st.held_down_until > time.time()
        assert metric("durantic_check_passing", check="f") == 0
        n = len(rec.seen)
        assert await eventually(lambda: flappy.passing("f"), limit=2.0)
        assert len(rec.seen) > n  # the end of the hold-down woke the controller
        assert not flappy.status("f").held_down
        assert metric("durantic_check_passing", check="f") == 1
    finally:
        await flappy.stop()
