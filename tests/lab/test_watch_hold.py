"""A bulk stream of the agent's own paths drops the best-path watch and resumes it from a snapshot:
whatever changed meanwhile (the streamed paths, and a path added by someone else) is in the watched view
afterwards, and a small stream next to a large table keeps the watch."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from durantic_agent.core.types import BestPath, PathSpec
from durantic_agent.gobgp import speaker
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.watch import _hold_for, watch_best

from .harness import Lab


def _prefixes(n: int, second: int) -> list[str]:
    return [f"10.{second}.{i // 256}.{i % 256}/32" for i in range(n)]


class _View:
    """What the agent's _watch_rib keeps: prefix -> best path, and how many snapshots arrived."""

    def __init__(self) -> None:
        self.best: dict[str, BestPath] = {}
        self.inits = 0

    async def follow(self, client: GobgpClient) -> None:
        async for init, changes in watch_best(client):
            if init:
                self.best = {}
                self.inits += 1
            for bp, withdrawn in changes:
                if withdrawn:
                    self.best.pop(bp.prefix, None)
                else:
                    self.best[bp.prefix] = bp


async def _until(pred: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_bulk_stream_resumes_the_watch_from_a_snapshot(lab: Lab) -> None:
    ns = lab.ns("wh")
    _, sock = lab.start_gobgpd("gobgpd-wh", ns)
    client, other = GobgpClient(str(sock)), GobgpClient(str(sock))
    await speaker.start_bgp(client, speaker.GlobalSpec(65000, "10.0.0.1", 179, ()))
    view = _View()
    await speaker.add_paths(other, [PathSpec(prefix="10.9.0.0/32")])
    task = asyncio.create_task(view.follow(client))
    try:
        await _until(lambda: view.inits == 1, "first snapshot")
        bulk = [PathSpec(prefix=p) for p in _prefixes(3000, 1)]

        stream = asyncio.create_task(speaker.add_paths(client, bulk))
        while _hold_for(client).free.is_set():  # until the stream holds the watch (no sleep: it may be short)
            assert not stream.done(), "the bulk stream ended without holding the watch"
            await asyncio.sleep(0)
        # added by someone else while the watch is down: only the snapshot afterwards can show it
        await speaker.add_paths(other, [PathSpec(prefix="10.9.0.1/32")])
        await stream
        want = {s.prefix for s in bulk} | {"10.9.0.0/32", "10.9.0.1/32"}
        await _until(lambda: set(view.best) == want, "streamed paths and the other path in the view")
        assert view.inits == 2  # the watch was dropped for the stream and resumed from a snapshot
        assert all(bp.local for bp in view.best.values())

        # 1000 paths next to a table of 3002: the watch stays (no snapshot), the events arrive
        small = [PathSpec(prefix=p) for p in _prefixes(1000, 2)]
        await speaker.add_paths(client, small)
        want |= {s.prefix for s in small}
        await _until(lambda: set(view.best) == want, "small stream in the view")
        assert view.inits == 2

        # withdrawing the bulk: dropped again, and the snapshot has only what is left
        await speaker.delete_paths(client, bulk)
        want -= {s.prefix for s in bulk}
        await _until(lambda: set(view.best) == want, "withdrawn paths gone from the view")
        assert view.inits == 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await other.close()


def test_hold_only_for_streams_large_next_to_the_table() -> None:
    assert speaker.hold_watch(10_000, 0)
    assert speaker.hold_watch(10_000, 30_000)
    assert not speaker.hold_watch(10_000, 30_001)
    assert not speaker.hold_watch(999, 0)  # a handful of paths: a few events are cheaper than a snapshot
