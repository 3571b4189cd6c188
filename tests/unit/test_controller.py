"""The controller: scoped wakes run only the reconcilers they name; merged, batched and unscoped wakes,
resync and retries after a failure run everything."""

from __future__ import annotations

import asyncio

from durantic_agent.agent.controller import Controller

NAMES = ("policies", "paths", "peers", "fib")


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: set[str] | None) -> None:
        self.name, self.calls, self.fail = name, calls, fail
        self.resyncs: list[bool] = []

    async def reconcile(self, want: int, resync: bool) -> int:
        self.calls.append(self.name)
        self.resyncs.append(resync)
        if self.fail and self.name in self.fail:
            self.fail.discard(self.name)
            raise RuntimeError("boom")
        return 0


def _controller(calls: list[str], fail: set[str] | None = None, resync: float = 30.0) -> Controller[int]:
    return Controller([Recorder(n, calls, fail) for n in NAMES], lambda: 0, resync_interval=resync)


async def _passes(c: Controller[int], n: int) -> None:
    async with c._converged:  # notified at the end of every pass
        await c._converged.wait_for(lambda: c.passes >= n)


def test_scoped_wake_runs_only_named_reconcilers_in_order() -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        c = _controller(calls)
        task = asyncio.create_task(c.run())
        c.wake(only={"fib", "paths"})
        await asyncio.wait_for(_passes(c, 1), 5)
        task.cancel()
        return calls

    assert asyncio.run(main()) == ["paths", "fib"]


def test_wakes_merge_before_a_pass_and_unscoped_means_all() -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        c = _controller(calls)
        c.wake(only={"fib"})
        c.wake()
        task = asyncio.create_task(c.run())
        await asyncio.wait_for(_passes(c, 1), 5)
        task.cancel()
        return calls

    assert asyncio.run(main()) == list(NAMES)


def test_batched_wake_runs_everything() -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        c = _controller(calls)
        task = asyncio.create_task(c.run())
        await asyncio.sleep(0)
        c.wake_batched()
        c.wake_batched()  # merged into the pending pass
        await asyncio.wait_for(_passes(c, 1), 5)
        await asyncio.sleep(0.01)
        task.cancel()
        return calls

    assert asyncio.run(main()) == list(NAMES)


def test_failed_pass_retries_everything() -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        c = _controller(calls, fail={"fib"})
        task = asyncio.create_task(c.run())
        c.wake(only={"fib"})
        await asyncio.wait_for(_passes(c, 2), 5)
        task.cancel()
        return calls

    assert asyncio.run(main()) == ["fib", *NAMES]


def test_resync_runs_everything() -> None:
    async def main() -> list[str]:
        calls: list[str] = []
        c = _controller(calls, resync=0.01)
        task = asyncio.create_task(c.run())
        await asyncio.wait_for(_passes(c, 1), 5)
        task.cancel()
        return calls

    assert asyncio.run(main()) == list(NAMES)


def test_resync_passes_say_so_and_wakes_do_not() -> None:
    async def main() -> tuple[list[bool], int]:
        calls: list[str] = []
        c = Controller([Recorder("paths", calls, None)], lambda: 0, resync_interval=0.2)
        task = asyncio.create_task(c.run())
        c.wake()
        await asyncio.wait_for(_passes(c, 1), 5)
        await asyncio.wait_for(_passes(c, 2), 5)  # the resync, 0.2 s later
        task.cancel()
        rec = c.reconcilers[0]
        assert isinstance(rec, Recorder)
        return rec.resyncs[:2], c.resyncs

    assert asyncio.run(main()) == ([False, True], 1)


def test_resync_is_not_starved_by_a_busy_controller() -> None:
    """Wakes every 20 ms never leave the loop idle for the interval; the resync still comes on time."""

    async def main() -> bool:
        calls: list[str] = []
        c = Controller([Recorder("paths", calls, None)], lambda: 0, resync_interval=0.3)
        task = asyncio.create_task(c.run())
        for _ in range(40):  # 0.8 s of wakes
            c.wake()
            await asyncio.sleep(0.02)
        task.cancel()
        rec = c.reconcilers[0]
        assert isinstance(rec, Recorder)
        return any(rec.resyncs)

    assert asyncio.run(main())


def test_one_computed_want_per_pass_for_every_reconciler_and_start_first() -> None:
    events: list[str] = []
    wants: list[object] = []

    class Starter(Recorder):
        def start(self, want: int) -> None:
            events.append(f"start {self.name}")

        async def reconcile(self, want: int, resync: bool) -> int:
            wants.append(want)
            events.append(self.name)
            return 0

    counter = iter(range(100))

    def compute() -> int:
        events.append("compute")
        return next(counter)

    async def main() -> None:
        c = Controller([Recorder("a", [], None), Starter("b", [], None)], compute)
        await c.run_once(only={"b"})
        await c.run_once()

    asyncio.run(main())
    assert events == ["compute", "start b", "b", "compute", "start b", "b"]
    assert wants == [0, 1]


def test_a_failing_compute_applies_nothing_and_is_reported() -> None:
    calls: list[str] = []

    def compute() -> int:
        raise ValueError("bad input")

    async def main() -> bool:
        c = Controller([Recorder("paths", calls, None)], compute)
        ok = await c.run_once()
        assert c.results["desired"].error == "ValueError: bad input"
        return ok

    assert asyncio.run(main()) is False
    assert calls == []
