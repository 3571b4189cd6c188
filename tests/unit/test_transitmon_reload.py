"""The transit monitor across a reload: a member added by the reload starts Direct, even when the reload
lands while a tick waits on the WireGuard device (the monitor reads config and members once per tick)."""

from __future__ import annotations

import asyncio
from typing import Any

from durantic_agent.agent.transitmon import TransitMonitor
from durantic_agent.config import AgentConfig
from durantic_agent.core.types import MemberRef, RibPath
from durantic_agent.fib import mesh_members
from durantic_agent.wg.port import DeviceState, PeerState

KEYS = {n: n.upper() * 43 + "=" for n in "abc"}
ADDR = {"a": "100.64.0.1", "b": "100.64.0.2", "c": "100.64.0.3"}


def config(names: str) -> AgentConfig:
    members = [
        {
            "name": n,
            "asn": 4200000001 + i,
            "address": ADDR[n],
            "public_key": KEYS[n],
            "endpoint": f"10.97.0.{i + 1}:51820",
        }
        for i, n in enumerate(names)
    ]
    mesh = {
        "name": "m",
        "address": "100.64.0.1/24",
        "private_key_file": "/nonexistent",
        "members": members,
        "persistent_keepalive": 1,
    }
    doc = {"machine": {"name": "a", "asn": 4200000001}, "meshes": [mesh]}
    return AgentConfig.model_validate(doc)


class ReloadingDevice:
    """A WireGuard device that hears from every peer it has, and lets a reload land while it is read."""

    def __init__(self, on_read: Any) -> None:
        self.on_read = on_read
        self.rx = 0

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        self.rx += 100
        await asyncio.sleep(0)
        self.on_read()
        peers = {
            k: PeerState(k, "10.97.0.9:51820", frozenset(), 1e12, self.rx, self.rx, 1) for k in (KEYS["b"], KEYS["c"])
        }
        return DeviceState(ifname, KEYS["a"], 51820, peers)


async def test_a_member_added_by_a_reload_during_a_tick_starts_direct() -> None:
    state: dict[str, Any] = {"cfg": config("ab")}
    state["members"] = mesh_members(state["cfg"], {"m": KEYS["a"]})

    def reload() -> None:  # what Agent.reload does, between two awaits of the tick
        state["cfg"] = config("abc")
        state["members"] = mesh_members(state["cfg"], {"m": KEYS["a"]})

    wakes: list[int] = []
    dev = ReloadingDevice(reload)

    async def lookup(host: str) -> list[list[RibPath]]:
        # b relays c, if asked: the path a monitor would take when it wrongly thinks c not Direct
        path = RibPath(host, ADDR["b"], (4200000002, 4200000003), 2, "igp", None, None, neighbor_ip=ADDR["b"])
        return [[path]]

    mon = TransitMonitor(lambda: state["cfg"], lambda: state["members"], dev, lookup, lambda: wakes.append(1))  # type: ignore[arg-type]
    members: dict[str, MemberRef] = state["members"]
    assert set(members) == {ADDR["b"]}
    await mon.tick()  # the reload lands inside this tick
    dev.on_read = lambda: None
    await mon.tick()
    await mon.tick()
    assert mon.path_type(ADDR["c"]) == "Direct"
    assert mon.carriers == {} and wakes == []
