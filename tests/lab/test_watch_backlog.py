"""A best-path reader that fell behind while a large table arrived (a paused or starved agent, or one
flooded right after it started) asks gobgpd how big the table is and resubscribes for a snapshot at once,
instead of reading thousands of queued per-path events; a reader that already holds as many
destinations reads the events as they come."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping

import grpc

from durantic_agent.core.types import PathSpec
from durantic_agent.gobgp import speaker
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.watch import _read_best

from .harness import Lab

N = 3000


async def _start(sock: str) -> None:
    client = GobgpClient(sock)
    try:
        await speaker.start_bgp(client, speaker.GlobalSpec(65000, "10.0.0.1", 179, ()))
    finally:
        await client.close()


async def _stream(sock: str, second: int, withdraw: bool = False) -> None:
    client = GobgpClient(sock)
    specs = [PathSpec(prefix=f"10.{second}.{i // 256}.{i % 256}/32") for i in range(N)]
    try:
        await (speaker.delete_paths if withdraw else speaker.add_paths)(client, specs)
    finally:
        await client.close()


def _fall_behind(sock: str, known: Mapping[str, object], second: int) -> tuple[int, int]:
    """Subscribe, stop reading while N paths go into gobgpd, then read on. Returns (single path events
    read, destinations in the snapshot that came instead: -1 if none did)."""
    # as the agent reads it (GobgpClient.blocking_channel)
    channel = grpc.insecure_channel(
        f"unix://{sock}", options=[(grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)]
    )
    stop = threading.Event()
    calls: list[object] = []
    # the run-length rule is out of the way (threshold unreachable): only the table-size probe can tell.
    # The first snapshot (an empty table) cost next to nothing, so the reader may take another soon after
    # it (resync_spacing: 20x that cost, capped by min_interval), as an agent flooded by full tables at
    # boot must. gobgpd can take the N paths faster than that spacing, so the reader reads on only once
    # the cap has passed.
    cap = 1.0
    subscribed = time.monotonic()
    reader = _read_best(channel, calls, stop, 2.0, 10**9, cap, known=lambda: known)
    try:
        init, _ = next(reader)
        assert init
        asyncio.run(_stream(sock, second))  # the reader is not reading: gobgpd queues N events for it
        time.sleep(max(0.0, subscribed + cap - time.monotonic()))
        singles = 0
        for init, changes in reader:
            if init:
                return singles, len({bp.prefix for bp, _ in changes})
            singles += len(changes)
            if singles >= N:
                return singles, -1
        raise AssertionError("the watch ended")
    finally:
        stop.set()
        for call in calls:
            call.cancel()  # type: ignore[attr-defined]
        reader.close()
        channel.close()


def test_reader_behind_on_a_new_table_takes_a_snapshot(lab: Lab) -> None:
    ns = lab.ns("wb")
    _, sock = lab.start_gobgpd("gobgpd-wb", ns)
    asyncio.run(_start(str(sock)))

    # holds nothing: all N are queued, and a snapshot of N pays -> it comes after a few hundred events
    singles, snapshot = _fall_behind(str(sock), {}, 1)
    assert snapshot == N, (singles, snapshot)
    assert singles < N // 2, singles

    # holds as many destinations as gobgpd will have (as if the new paths were known ones moving):
    # the table size says nothing is queued, so every change is read as it comes, no snapshot
    asyncio.run(_stream(str(sock), 1, withdraw=True))
    singles, snapshot = _fall_behind(str(sock), {f"10.200.{i // 256}.{i % 256}/32": None for i in range(N)}, 2)
    assert snapshot == -1 and singles == N, (singles, snapshot)
