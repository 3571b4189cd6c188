"""The restart hold: over when gobgpd has finished restarting on every wanted session, or at its deadline."""

from __future__ import annotations

import asyncio

from durantic_agent.agent.restarthold import RestartHold, restart_over
from durantic_agent.gobgp.speaker import PeerInfo


def info(addr: str, state: str = "established", restarting: bool = False) -> PeerInfo:
    return PeerInfo(addr, 65000, "", state, None, 0, 0, 0, "", 0, 0, local_restarting=restarting)


def test_over_only_when_every_wanted_session_is_up_and_done_restarting() -> None:
    up = {"10.0.0.1": info("10.0.0.1"), "10.0.0.2": info("10.0.0.2")}
    assert restart_over(up, ["10.0.0.1", "10.0.0.2"])
    assert not restart_over(up, ["10.0.0.1", "10.0.0.3"])  # not added to gobgpd yet
    assert not restart_over({**up, "10.0.0.2": info("10.0.0.2", "active")}, ["10.0.0.1", "10.0.0.2"])
    assert not restart_over({**up, "10.0.0.2": info("10.0.0.2", restarting=True)}, ["10.0.0.1", "10.0.0.2"])


def test_hold_ends_when_the_restart_is_over_or_at_its_deadline() -> None:
    async def scenario() -> None:
        hold = RestartHold()
        peers = {"10.0.0.1": info("10.0.0.1", restarting=True)}
        ended = asyncio.Event()

        async def read() -> dict[str, PeerInfo]:
            return peers

        task = asyncio.create_task(hold.run(read, lambda: ["10.0.0.1"], ended.set, interval=0.01))
        hold.begin(60)
        await asyncio.sleep(0.05)
        assert hold.active() and not ended.is_set()
        peers["10.0.0.1"] = info("10.0.0.1")  # End-of-RIB from it
        await asyncio.wait_for(ended.wait(), 5)
        assert not hold.active()
        ended.clear()
        peers["10.0.0.1"] = info("10.0.0.1", "active")  # a session that never comes back
        hold.begin(0.1)
        assert hold.active()
        await asyncio.wait_for(ended.wait(), 5)
        assert not hold.active()
        task.cancel()

    asyncio.run(scenario())
