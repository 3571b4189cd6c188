"""Who peers with whom: full mesh, or route servers in the middle (topology.py), and the mesh key's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from durantic_agent.config import load_config, parse_config
from durantic_agent.desired import desired_peers, desired_route_servers
from durantic_agent.errors import ConfigError
from durantic_agent.mesh_policy import ROUTE_SERVERS_SET, mesh_policies

KEYS = [chr(ord("A") + i) * 43 + "=" for i in range(5)]
NAMES = ["rs1", "rs2", "c1", "c2", "c3"]


def members() -> list[dict[str, Any]]:
    return [
        {"name": n, "asn": 4200000001 + i, "address": f"100.64.0.{i + 1}", "public_key": KEYS[i]}
        for i, n in enumerate(NAMES)
    ]


def config(me: int, **mesh: Any) -> Any:
    m = {
        "name": "m",
        "address": f"100.64.0.{me + 1}/24",
        "private_key_file": "/nonexistent",
        "members": members(),
        "max_prefixes": 50,
        **mesh,
    }
    doc = {"machine": {"name": NAMES[me], "asn": 4200000001 + me}, "bgp": {"connect_retry": 1}, "meshes": [m]}
    try:
        return parse_config(doc)
    except ConfigError as e:  # only the missing key file may be wrong here
        assert all("private_key_file" in msg for msg in e.messages), e.messages
        from durantic_agent.config.schema import AgentConfig

        return AgentConfig.model_validate(doc)


def test_full_mesh_peers_with_every_other_member() -> None:
    cfg = config(2)
    peers = desired_peers(cfg, {})
    assert sorted(p.name for p in peers.values()) == ["c2", "c3", "rs1", "rs2"]
    assert all(p.port == 179 and not p.route_server_client and p.max_prefixes == 50 for p in peers.values())
    assert desired_route_servers(cfg) == {}


def test_a_client_peers_only_with_the_route_servers_on_their_port_and_asn() -> None:
    cfg = config(2, route_servers=["rs1", "rs2"], route_server_port=1791, route_server_asn=4200009999)
    peers = desired_peers(cfg, {})
    assert {a: (p.name, p.asn, p.port) for a, p in peers.items()} == {
        "100.64.0.1": ("rs1", 4200009999, 1791),
        "100.64.0.2": ("rs2", 4200009999, 1791),
    }
    # through the tunnel, as every mesh session; the members' limits are the route servers' to enforce
    assert all(p.bind_interface == "dur-m" and p.multihop_ttl == 3 for p in peers.values())
    assert all(p.max_prefixes is None and not p.route_server_client for p in peers.values())
    assert desired_route_servers(cfg) == {}


def test_a_route_server_serves_every_member_and_is_a_client_of_every_route_server() -> None:
    cfg = config(0, route_servers=["rs1", "rs2"])
    own = desired_peers(cfg, {})
    assert {p.name for p in own.values()} == {"rs1", "rs2"}
    # its own route server over the local address (no tunnel to itself), the other through the tunnel
    assert own["100.64.0.1"].bind_interface is None and own["100.64.0.2"].bind_interface == "dur-m"
    rs = desired_route_servers(cfg)["m"]
    assert (rs.asn, rs.address, rs.port, rs.router_id) == (4294967294, "100.64.0.1", 1790, "100.64.0.1")
    assert sorted(p.name for p in rs.peers.values()) == sorted(NAMES)
    assert all(p.route_server_client for p in rs.peers.values())
    assert {p.name: p.port for p in rs.peers.values()} == dict.fromkeys(NAMES, 179)  # the members' own gobgpd
    assert {p.name: p.max_prefixes for p in rs.peers.values()} == dict.fromkeys(NAMES, 50)  # enforced here
    assert rs.peers["100.64.0.3"].asn == 4200000003 and rs.peers["100.64.0.1"].bind_interface is None


def test_route_server_sessions_carry_their_own_fingerprint() -> None:
    """Moving a mesh between topologies replaces exactly the sessions that change."""
    full = desired_peers(config(2), {})
    rs = desired_peers(config(2, route_servers=["rs1", "rs2"]), {})
    assert all(full[a].fingerprint() != rs[a].fingerprint() for a in rs)


def test_route_servers_are_sent_only_own_routes() -> None:
    mp = mesh_policies(["100.64.0.2", "100.64.0.3"], route_servers=["100.64.0.1", "100.64.0.2"])
    sets = {s.name: list(s.entries) for s in mp.defined_sets}
    assert sets[ROUTE_SERVERS_SET] == ["100.64.0.1/32", "100.64.0.2/32"]
    assert "100.64.0.1/32" in sets["durantic-agent:mesh-members"]  # learned from our own route server: tagged
    first = mp.export_policies[0].statements[0]
    assert first.name == "own-routes-to-route-servers"
    assert first.conditions.as_path_length_ge == 2 and first.actions.result == "reject"
    assert "own-routes-to-route-servers" not in str(mesh_policies(["100.64.0.2"]).export_policies)


@pytest.mark.parametrize(
    ("mesh", "error"),
    [
        ({"route_servers": ["rs1", "zz"]}, "meshes[0].route_servers[1]: 'zz' is not a member of mesh 'm'"),
        ({"route_servers": ["rs1", "rs1"]}, "meshes[0].route_servers[1]: 'rs1' duplicates route_servers[0]"),
        ({"route_servers": []}, "meshes[0].route_servers: [] names no member (leave it out for a full mesh)"),
        ({"route_servers": "rs1"}, "meshes[0].route_servers: 'rs1' must be a valid list"),
        (
            {"route_servers": ["rs1"], "route_server_asn": 4200000002},
            "meshes[0].route_server_asn: 4200000002 is the ASN of members[1] ('rs2')",
        ),
        ({"route_server_port": 0}, "meshes[0].route_server_port: 0 must be greater than or equal to 1"),
    ],
)
def test_bad_route_servers_are_one_line_naming_field_and_value(mesh: dict[str, Any], error: str) -> None:
    doc = {
        "machine": {"name": "rs1", "asn": 4200000001},
        "meshes": [{"name": "m", "address": "100.64.0.1/24", "private_key_file": "/x", "members": members(), **mesh}],
    }
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert e.value.messages == [error]


def test_the_members_file_may_carry_the_route_servers(tmp_path: Path) -> None:
    key = tmp_path / "m.key"
    key.write_text(KEYS[0])
    key.chmod(0o600)
    mf = tmp_path / "members.yaml"
    mf.write_text(yaml.safe_dump({"members": members(), "route_servers": ["rs1", "rs2"]}))
    mesh = {"name": "m", "address": "100.64.0.3/24", "private_key_file": str(key), "members_file": str(mf)}
    doc = {"machine": {"name": "c1", "asn": 4200000003}, "meshes": [mesh]}
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(doc))
    assert load_config(tmp_path / "agent.yaml").meshes[0].route_servers == ["rs1", "rs2"]
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump({**doc, "meshes": [{**mesh, "route_servers": ["rs1"]}]}))
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "agent.yaml")
    assert e.value.messages == ["meshes[0]: set `route_servers` in agent.yaml or in the members file, not both"]
    mf.write_text(yaml.safe_dump({"members": members(), "route_servers": ["nobody"]}))
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "agent.yaml")
    assert e.value.messages == ["meshes[0].route_servers[0]: 'nobody' is not a member of mesh 'm'"]


def test_a_route_server_enforces_each_members_allowed_prefixes_on_its_own_session() -> None:
    ms = members()
    ms[3]["allowed_prefixes"] = ["10.20.0.0/16"]
    cfg = config(0, route_servers=["rs1", "rs2"], members=ms)
    rs = desired_route_servers(cfg)["m"]
    names = list(rs.policies.import_policies)
    assert len(names) == 1 and rs.peers["100.64.0.4"].import_policies == tuple(names)
    assert rs.peers["100.64.0.4"].import_policies_version
    assert all(p.import_policies == () for a, p in rs.peers.items() if a != "100.64.0.4")
    (policy,) = [p for p in rs.policies.policies if p.name == names[0]]
    assert [s.name.rsplit(":", 2)[-2:] for s in policy.statements] == [["c2", "v4"], ["c2", "v6"]]
    prefix_sets = [m for m in rs.policies.sets if m.kind == "prefix"]
    assert any("10.20.0.0/16" in str(m) for m in prefix_sets)
    assert any("100.64.0.4/32" in str(m) for m in rs.policies.sets if m.kind == "neighbor")
