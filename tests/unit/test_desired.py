"""desired(): announcements -> the paths the agent wants in gobgpd, across passes (PathSpecs are reused
for unchanged announcements, so a later pass must still see every change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from durantic_agent.config import AgentConfig, parse_config
from durantic_agent.core.types import PathSpec
from durantic_agent.desired import DrainPhase, desired
from durantic_agent.objects.document import ObjectsState, parse_doc

CFG: AgentConfig = parse_config(
    {"machine": {"name": "a", "asn": 4200000001, "router_id": "192.0.2.1"}, "state_dir": "/var/lib/durantic"}
)


def state(*anns: dict[str, Any]) -> ObjectsState:
    return ObjectsState(announcements=list(parse_doc({"announcements": list(anns)}).announcements))


ROUTE = {"name": "net", "route": "10.1.0.0/24", "communities": ["65000:1"], "med": 10}
VIP = {"name": "web", "vip": "10.50.0.10", "health_check": {"tcp": {"host": "127.0.0.1", "port": 80}}}


def test_paths_follow_health_drain_and_stop() -> None:
    st = state(ROUTE, VIP)
    up = desired(CFG, st, lambda name: True)
    assert up.paths == {
        "10.1.0.0/24": PathSpec("10.1.0.0/24", None, ("65000:1",), (), 10, "net"),
        "10.50.0.10/32": PathSpec("10.50.0.10/32", owner="web"),
    }
    assert up.vips == frozenset({"10.50.0.10"})
    assert set(desired(CFG, st, lambda name: False).paths) == {"10.1.0.0/24"}  # the check fails: VIP withdrawn
    tagged = desired(CFG, st, lambda name: True, drain=DrainPhase.TAGGING)
    assert tagged.paths["10.1.0.0/24"].communities == ("65000:1", "graceful-shutdown")
    assert desired(CFG, st, lambda name: True).paths == up.paths  # undrain: the tag is gone again
    assert desired(CFG, st, lambda name: True, drain=DrainPhase.WITHDRAWN).paths == {}
    assert desired(CFG, st, lambda name: True, stopping=True).paths == {}


def test_a_changed_announcement_is_seen_on_the_next_pass() -> None:
    first = desired(CFG, state(ROUTE), lambda name: True)
    again = desired(CFG, state({**ROUTE, "med": 20}), lambda name: True)
    assert first.paths["10.1.0.0/24"].med == 10
    assert again.paths["10.1.0.0/24"].med == 20
    st = state(ROUTE)
    assert (
        desired(CFG, st, lambda name: True).paths["10.1.0.0/24"]
        is desired(CFG, st, lambda name: True).paths["10.1.0.0/24"]
    )


def test_members_take_the_mesh_max_prefixes_unless_their_entry_has_one(tmp_path: Path) -> None:
    from durantic_agent.desired import desired_peers

    keyfile = tmp_path / "m.key"
    keyfile.write_text("C" * 43 + "=\n")
    keyfile.chmod(0o600)
    key = "A" * 43 + "="
    member = {"asn": 4200000002, "public_key": key}
    cfg = parse_config(
        {
            "machine": {"name": "a", "asn": 4200000001, "router_id": "192.0.2.1"},
            "meshes": [
                {
                    "name": "m",
                    "address": "100.64.0.1/24",
                    "private_key_file": str(keyfile),
                    "max_prefixes": 100,
                    "members": [
                        {**member, "name": "b", "address": "100.64.0.2"},
                        {
                            **member,
                            "name": "c",
                            "address": "100.64.0.3",
                            "asn": 4200000003,
                            "max_prefixes": 7,
                            "public_key": "B" * 43 + "=",
                        },
                    ],
                }
            ],
            "neighbors": [{"name": "tor", "address": "192.0.2.9", "asn": 65000, "max_prefixes": 5000}],
        }
    )
    peers = desired_peers(cfg, {})
    assert {p.name: p.max_prefixes for p in peers.values()} == {"b": 100, "c": 7, "tor": 5000}
