"""The controller: scoped wakes run only the reconcilers they name; merged, batched and unscoped wakes,
resync and retries after a failure run everything."""

from __future__ import annotations

import asyncio

from durantic_agent.agent.controller import Controller

NAMES = ("policies", "paths", "peers", "fib")


def _controller(calls: list[str], fail: set[str] | None = None, resync: float = 30.0) -> Controller:
    def make(name: str):  # type: ignore[no-untyped-def]
        async def fn() -> int:
            calls.append(name)
            if fail and name in fail:
                fail.discard(name)
                raise RuntimeError("boom")
            return 0

        return fn

    return Controller([(n, make(n)) for n in NAMES], resync_interval=resync)


async def _passes(c: Controller, n: int) -> None:
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
