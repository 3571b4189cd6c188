"""Direct-path probe addresses: derived per member, always on the member's own WireGuard peer, never
taken over by a BGP path, and echoed by the transit monitor to members whose peer went quiet."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from durantic_agent.agent.transitmon import TransitMonitor
from durantic_agent.config import AgentConfig, parse_config
from durantic_agent.core.probe import is_probe_address, probe_address
from durantic_agent.core.types import BestPath, RibPath
from durantic_agent.errors import ConfigError
from durantic_agent.fib import desired_fib, mesh_members, update_fib
from durantic_agent.wg.port import DeviceState, PeerState

KEYS = {n: n.upper() * 43 + "=" for n in "abc"}
ADDR = {"a": "100.64.0.1", "b": "100.64.0.2", "c": "100.64.0.3"}


def doc(key: Path, addrs: dict[str, str] = ADDR, prefix: str = "100.64.0.1/24") -> dict[str, Any]:
    members = [
        {
            "name": n,
            "asn": 4200000001 + i,
            "address": addrs[n],
            "public_key": KEYS[n],
            "endpoint": f"10.97.0.{i + 1}:51820",
        }
        for i, n in enumerate("abc")
    ]
    mesh = {"name": "m", "address": prefix, "private_key_file": str(key), "members": members, "persistent_keepalive": 1}
    return {"machine": {"name": "a", "asn": 4200000001, "router_id": "100.64.0.1"}, "meshes": [mesh]}


@pytest.fixture
def key(tmp_path: Path) -> Path:
    k = tmp_path / "m.key"
    k.write_text("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
    k.chmod(0o600)
    return k


@pytest.fixture
def cfg(key: Path) -> AgentConfig:
    return parse_config(doc(key))


def test_probe_address_is_a_marked_link_local_derived_from_the_mesh_address() -> None:
    assert probe_address("100.64.0.3") == "fe80::d4:0:6440:3"
    assert probe_address("fd00:64::1:3") == "fe80::d6:0:1:3"
    assert is_probe_address(ipaddress.IPv6Address(probe_address("10.0.0.1")))
    assert not is_probe_address(ipaddress.IPv6Address("fe80::1"))  # a kernel-made link-local is not ours
    assert not is_probe_address(ipaddress.IPv6Address("fd00::d4:0:6440:3"))


def test_probe_address_stays_on_the_members_own_peer_while_a_relay_carries_it(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"m": KEYS["a"]})
    fib = desired_fib(cfg, [], members, {ADDR["c"]: ADDR["b"]})
    allowed = fib.allowed["dur-m"]
    assert allowed[KEYS["b"]] == {"100.64.0.2/32", "100.64.0.3/32", "fe80::d4:0:6440:2/128"}
    assert allowed[KEYS["c"]] == {"fe80::d4:0:6440:3/128"}


def test_a_bgp_path_for_a_link_local_prefix_is_never_installed(cfg: AgentConfig) -> None:
    """A member announcing another's probe address must not pull it onto its own peer."""
    members = mesh_members(cfg, {"m": KEYS["a"]})
    stolen = BestPath("fe80::d4:0:6440:3/128", ADDR["b"], False)
    fib = desired_fib(cfg, [stolen], members)
    assert "fe80::d4:0:6440:3/128" in fib.allowed["dur-m"][KEYS["c"]]
    assert "fe80::d4:0:6440:3/128" not in fib.allowed["dur-m"][KEYS["b"]]
    assert stolen.prefix not in fib.routes and stolen.prefix not in fib.owner
    again, _ = update_fib(desired_fib(cfg, [], members), cfg, {stolen.prefix: stolen}, members)
    assert again.allowed == fib.allowed and again.owner == fib.owner


def test_ipv6_members_whose_probe_addresses_collide_are_refused(key: Path) -> None:
    addrs = {"a": "fd00:64::1", "b": "fd00:64:1::1", "c": "fd00:64::3"}
    with pytest.raises(ConfigError) as e:
        parse_config(doc(key, addrs, "fd00:64::1/32"))
    msg = str(e.value)
    assert "members[1].address: 'fd00:64:1::1'" in msg and "members[0]" in msg and "fe80::d6:0:0:1" in msg


class QuietDevice:
    """b keeps sending (its received bytes grow); c has gone quiet."""

    def __init__(self) -> None:
        self.rx_b = 0

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        self.rx_b += 100
        peers = {
            KEYS["b"]: PeerState(KEYS["b"], "10.97.0.2:51820", frozenset(), 1e12, self.rx_b, 0, 1),
            KEYS["c"]: PeerState(KEYS["c"], "10.97.0.3:51820", frozenset(), 1e12, 500, 0, 1),
        }
        return DeviceState(ifname, KEYS["a"], 51820, peers)


async def test_transit_monitor_probes_only_members_quiet_for_a_keepalive_interval(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"m": KEYS["a"]})
    sent: list[tuple[str, str, str]] = []

    async def lookup(host: str) -> list[list[RibPath]]:
        return []

    mon = TransitMonitor(
        lambda: cfg,
        lambda: members,
        QuietDevice(),  # type: ignore[arg-type]
        lookup,
        lambda: None,
        lambda ifname, src, dst: sent.append((ifname, src, dst)),
    )
    clock = [1000.0]
    mon.clock = lambda: clock[0]
    await mon.tick()  # first sample: both peers show bytes
    clock[0] += 0.5  # half the keepalive interval (1 s): c quiet, but not for long enough
    await mon.tick()
    assert sent == []
    clock[0] += 0.5
    await mon.tick()
    assert sent == [("dur-m", "fe80::d4:0:6440:1", "fe80::d4:0:6440:3")]
    assert mon.path_type(ADDR["c"]) == "Direct"
