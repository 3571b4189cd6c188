"""A stopped gobgpd (SIGSTOP) never hangs a caller: unary calls and streams end with SidecarUnavailable
within their deadlines, and the sidecar's watchdog kills it after its misses and starts a new one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from durantic_agent.errors import SidecarUnavailable
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.sidecar import Sidecar, Watchdog, find_gobgpd


async def until(pred: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # noqa: ASYNC110 - the sidecar's state has no event to wait on
            await asyncio.sleep(0.02)


def stopped(pid: int) -> bool:
    """Every thread of `pid` in the stopped state: kill() returns before the other threads take the stop."""
    tasks = os.listdir(f"/proc/{pid}/task")
    states = []
    for tid in tasks:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            states.append(f.read().rsplit(") ", 1)[1][0])
    return all(s == "T" for s in states)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


async def test_calls_and_streams_on_a_stopped_gobgpd_end_at_their_deadlines(tmp_path: Path) -> None:
    sc = Sidecar(find_gobgpd(None), tmp_path / "run", lambda c, f: asyncio.sleep(0))
    await sc.start()
    assert sc.client is not None and sc.pid is not None
    client: GobgpClient = sc.client
    os.kill(sc.pid, signal.SIGSTOP)
    try:
        pid = sc.pid
        await until(lambda: stopped(pid))
        t = time.monotonic()
        with pytest.raises(SidecarUnavailable, match="did not answer in time"):
            await client.get_global(timeout=0.3)
        with pytest.raises(SidecarUnavailable, match=r"sent nothing for 0\.3 s"):
            [r async for r in client.stream("ListPeer", api.ListPeerRequest(), idle=0.3)]
        with pytest.raises(SidecarUnavailable, match="did not answer in time"):
            [r async for r in client.stream("ListPeer", api.ListPeerRequest(), timeout=0.3)]
        assert time.monotonic() - t < 5, "a deadline was not kept"
    finally:
        os.kill(sc.pid, signal.SIGCONT)
        await sc.stop()


async def test_watchdog_kills_a_stopped_gobgpd_and_the_supervisor_restarts_it(tmp_path: Path) -> None:
    ready: list[bool] = []

    async def on_ready(client: GobgpClient, fresh: bool) -> None:
        ready.append(fresh)

    sc = Sidecar(find_gobgpd(None), tmp_path / "run", on_ready, watchdog=Watchdog(0.1, 0.2, 3))
    await sc.start()
    first = sc.pid
    assert first is not None
    run = asyncio.create_task(sc.run())
    try:
        os.kill(first, signal.SIGSTOP)
        await until(lambda: not sc.responsive)
        assert sc.unresponsive_since is not None
        await until(lambda: sc.restarts == 1 and sc.ready.is_set())
        assert sc.hung_kills == 1 and sc.pid != first and sc.responsive and ready == [True, True]
        assert gone(first)
        assert (await sc.client.get_global()) is not None  # type: ignore[union-attr]
    finally:
        run.cancel()
        await sc.stop()
