"""Route servers in the lab: two of five members run a route server (a second gobgpd beside their own),
every member peers only with them, WireGuard stays a full mesh. Real agents, gobgpd, wireguard-go and
kernel routes: a client's route reaches the other clients with its own next hop (traffic goes direct,
not through a route server); a route server killed with SIGKILL leaves the routes of the other; editing
the members file and `agent reload` moves the mesh to a full mesh and back; the route servers enforce
a member's allowed_prefixes and max_prefixes."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import AgentHandle, Lab, gobgp_cli, module_lab, run, wait_for
from .mesh import Machine, members_doc, start_mesh, wg_allowed
from .test_liveness import power_off
from .test_transit import ping_ttl

pytestmark = pytest.mark.lab

RS = ["rs1", "rs2"]
CLIENTS = ["c1", "c2", "c3"]
ROUTE = "192.168.77.0/24"
# c3 may announce only these (and its mesh address), and at most 8 routes per family: in the full mesh
# it sends 6 at most here (its own 2 and the others' it relays), to a route server only its own
C3_ALLOWED = ["192.168.78.0/24", "10.77.0.0/16"]
C3_MAX = 8


def write_members(lab: Lab, machines: list[Machine], route_servers: list[str] | None) -> None:
    doc = members_doc(machines, route_servers=route_servers)
    for m in doc["members"]:
        if m["name"] == "c3":
            m.update(allowed_prefixes=C3_ALLOWED, max_prefixes=C3_MAX)
    (lab.base / "members-m.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    with module_lab(request) as lab:
        yield lab


@pytest.fixture(scope="module")
def mesh(lab: Lab) -> dict[str, Any]:
    ms = [
        Machine(n, lab.ns(n), f"10.96.0.{i + 1}", f"100.64.0.{i + 1}", 4200000001 + i)
        for i, n in enumerate([*RS, *CLIENTS])
    ]
    links = lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms})
    agents = start_mesh(lab, ms, route_servers=RS)
    write_members(lab, ms, RS)  # c3's limits, read by every agent on this reload
    for h in agents.values():
        assert h.cli("agent", "reload").returncode == 0
    return {"machines": {m.name: m for m in ms}, "agents": agents, "links": links}


def agent(mesh: dict[str, Any], name: str) -> AgentHandle:
    h: AgentHandle = mesh["agents"][name]
    return h


def route_server_socket(h: AgentHandle) -> Path:
    return Path(h.config["runtime_dir"]) / "route-server-m" / "gobgpd.sock"


def rs_client(sock: Path, address: str) -> dict[str, Any]:
    """A route server's session to one client, as gobgpd reports it."""
    found: dict[str, Any] = next(n for n in gobgp_cli(sock, "neighbor") if n["conf"]["neighbor_address"] == address)
    return found


def sessions(h: AgentHandle) -> set[str]:
    """The peers h has a BGP session with (`peers` also lists the members reached via the route servers)."""
    return {n for n, p in h.peers().items() if p["state"] != "-"}


def rib_paths(h: AgentHandle, prefix: str) -> list[dict[str, Any]]:
    rows = h.api("GET", f"/v1/rib?prefix={prefix}")
    return [p for r in rows if r["prefix"] == prefix for p in r["paths"]]


def kernel_route(h: AgentHandle, prefix: str) -> str:
    return run(["ip", "-n", h.ns, "route", "show", prefix]).stdout


def ping(lab: Lab, ns: str, addr: str) -> bool:
    return lab.sh(ns, f"ping -c1 -W1 {addr}", check=False).returncode == 0


def test_clients_peer_only_with_the_route_servers(mesh: dict[str, Any]) -> None:
    for name in [*RS, *CLIENTS]:
        h = agent(mesh, name)
        wait_for(lambda h=h: h.established(*RS), 45, f"{name}: sessions to both route servers")  # type: ignore[misc]
        peers = h.peers()
        assert sessions(h) == set(RS), f"{name} peers with {sorted(sessions(h))}"
        # every other member is still listed: its tunnel, path type and data plane, with no session
        # (a route server's own gobgpd is a client of its route server: that session is listed too)
        assert set(peers) == {*RS, *CLIENTS} - {name} | ({name} & set(RS))
        others = [p for n, p in peers.items() if n not in sessions(h)]
        assert all(p["kind"] == "member" and p["path_type"] == "Direct" for p in others), others
        # a client probes only the route servers; a route server probes every member
        probed = {n for n, p in peers.items() if p["liveness"]}
        assert probed == (set(RS) if name in CLIENTS else {*RS, *CLIENTS} - {name}), probed
    for name in RS:
        h = agent(mesh, name)
        st = h.api("GET", "/v1/status")["route_servers"]
        assert [(s["mesh"], s["port"], s["clients"], s["ready"]) for s in st] == [("m", 1790, 5, True)]
        # every member is a route-server client of it, its own agent's gobgpd included
        sock = route_server_socket(h)
        wait_for(
            lambda sock=sock: (
                sum(  # type: ignore[misc]
                    1 for n in gobgp_cli(sock, "neighbor") if n["state"]["session_state"] == 6
                )
                == 5
            ),
            45,
            f"{name}'s route server: five clients established",
        )
        clients = gobgp_cli(sock, "neighbor")
        assert all(n["route_server"]["route_server_client"] for n in clients)
    for name in CLIENTS:
        assert agent(mesh, name).api("GET", "/v1/status")["route_servers"] == []


def test_a_clients_route_reaches_the_others_with_its_own_next_hop(lab: Lab, mesh: dict[str, Any]) -> None:
    c1 = agent(mesh, "c1")
    ms = mesh["machines"]
    lab.sh(c1.ns, "ip addr add 192.168.77.1/32 dev lo")
    assert c1.cli("announce", "add", "lan", "--route", ROUTE).returncode == 0
    for name in ["c2", "c3", "rs1"]:
        h = agent(mesh, name)
        wait_for(lambda h=h: len(rib_paths(h, ROUTE)) == 2, 20, f"{name}: the route from both route servers")  # type: ignore[misc]
        paths = rib_paths(h, ROUTE)
        # a route server adds no AS and keeps the next hop: the path names the origin only
        assert {p["source"] for p in paths} == set(RS)
        assert all(p["next_hop"] == ms["c1"].mesh_addr and p["as_path"] == [ms["c1"].asn] for p in paths), paths
        assert sum(p["best"] for p in paths) == 1
    c2 = agent(mesh, "c2")
    got = wait_for(lambda: kernel_route(c2, ROUTE), 15, "c2's kernel route to c1's subnet")
    assert "dev dur-" in got and "proto bgp" in got
    # the traffic goes straight to the origin: the prefix is in the AllowedIPs of c1's peer, not a route server's
    wait_for(lambda: ROUTE in wg_allowed(c2)[ms["c1"].pubkey], 15, "c1's subnet in c2's AllowedIPs for c1")
    assert not any(ROUTE in wg_allowed(c2)[ms[r].pubkey] for r in RS)
    wait_for(lambda: ping(lab, c2.ns, "192.168.77.1"), 15, "c2 pings 192.168.77.1 through WireGuard")
    # the route servers are sent only the clients' own routes: c2 does not pass c1's route back
    for name in RS:
        sock = route_server_socket(agent(mesh, name))
        got_paths = gobgp_cli(sock, "neighbor", ms["c3"].mesh_addr, "local", ROUTE)
        assert got_paths, f"{name}: c3's RIB has no {ROUTE}"
        learned = str(gobgp_cli(sock, "neighbor", ms["c2"].mesh_addr, "adj-in"))
        assert f"{ms['c2'].mesh_addr}/32" in learned  # c2's own mesh address: it does send its own routes
        assert ROUTE not in learned, f"{name} received {ROUTE} back from c2"


def test_members_that_cannot_reach_each_other_relay_through_a_route_server(lab: Lab, mesh: dict[str, Any]) -> None:
    """c1 and c2 have no session with each other, only with the route servers; the route servers' paths to
    their mesh addresses say which route server reaches both, and both ends pick the same one."""
    c1, c2 = agent(mesh, "c1"), agent(mesh, "c2")
    m2 = mesh["machines"]["c2"]
    cut = f"ip saddr {m2.underlay} udp sport 51820 drop; ip daddr {m2.underlay} udp dport 51820 drop"
    lab.sh(c1.ns, "nft 'add table inet durcut; add chain inet durcut in { type filter hook input priority 0; }'")
    lab.sh(c1.ns, "nft 'add chain inet durcut out { type filter hook output priority 0; }'")
    for chain in ("in", "out"):
        for rule in cut.split("; "):
            lab.sh(c1.ns, f"nft add rule inet durcut {chain} {rule}")
    try:
        wait_for(lambda: c1.peers()["c2"]["path_type"] == "Transit via rs1", 30, "c1: c2 is Transit via rs1")
        wait_for(lambda: c2.peers()["c1"]["path_type"] == "Transit via rs1", 30, "c2: c1 is Transit via rs1")
        wait_for(lambda: ping_ttl(lab, c1.ns, m2.mesh_addr) == 63, 20, "c1 pings c2 through rs1 (one hop)")
        assert c1.established(*RS) and c2.established(*RS)
        assert "Transit via rs1" in c1.cli("peers").stdout
    finally:
        lab.sh(c1.ns, "nft delete table inet durcut", check=False)
    wait_for(lambda: c1.peers()["c2"]["path_type"] == "Direct", 30, "c1: c2 Direct again")
    wait_for(lambda: c2.peers()["c1"]["path_type"] == "Direct", 30, "c2: c1 Direct again")
    wait_for(lambda: ping_ttl(lab, c1.ns, m2.mesh_addr) == 64, 20, "c1 pings c2 directly")


def test_a_killed_route_server_leaves_the_routes_of_the_other(lab: Lab, mesh: dict[str, Any]) -> None:
    c2, c3, rs1 = agent(mesh, "c2"), agent(mesh, "c3"), agent(mesh, "rs1")
    ms = mesh["machines"]
    wait_for(lambda: len(rib_paths(c2, ROUTE)) == 2, 20, "c2: the route from both route servers")
    lab.stop_agent(rs1, signal.SIGKILL)  # its gobgpds die with it (parent-death signal)
    wait_for(lambda: c2.peers()["rs1"]["state"] != "established", 30, "c2: the session to rs1 is down")
    # the route never leaves c2's kernel or AllowedIPs, and what is announced now still arrives through rs2
    assert "dev dur-" in kernel_route(c2, ROUTE) and ROUTE in wg_allowed(c2)[ms["c1"].pubkey]
    wait_for(lambda: [p["source"] for p in rib_paths(c2, ROUTE)] == ["rs2"], 30, "c2: the route via rs2 only")
    assert "dev dur-" in kernel_route(c2, ROUTE)
    lab.sh(c3.ns, "ip addr add 192.168.78.1/32 dev lo")
    assert c3.cli("announce", "add", "lan3", "--route", "192.168.78.0/24").returncode == 0
    wait_for(lambda: "dev dur-" in kernel_route(c2, "192.168.78.0/24"), 20, "c2: c3's new route through rs2")
    wait_for(lambda: ping(lab, c2.ns, "192.168.78.1"), 15, "c2 pings c3's new subnet")
    # rs1 back: its route server comes back with it and serves every client again
    lab.start_agent("rs1", rs1.ns, rs1.config)
    wait_for(lambda: len(rib_paths(c2, ROUTE)) == 2, 45, "c2: the route from both route servers again")


def test_reload_moves_the_mesh_to_a_full_mesh_and_back(lab: Lab, mesh: dict[str, Any]) -> None:
    ms = mesh["machines"]
    machines = list(ms.values())
    names = [*RS, *CLIENTS]
    write_members(lab, machines, None)  # no route_servers: every member peers with every other
    for name in names:
        assert agent(mesh, name).cli("agent", "reload").returncode == 0
    c2 = agent(mesh, "c2")
    wait_for(lambda: c2.established("c1", "c3", *RS), 45, "c2: a session to every member")
    assert set(c2.peers()) == {"c1", "c3", *RS}
    for name in RS:
        assert agent(mesh, name).api("GET", "/v1/status")["route_servers"] == []
        assert not route_server_socket(agent(mesh, name)).exists()
    wait_for(lambda: any(p["source"] == "c1" and p["best"] for p in rib_paths(c2, ROUTE)), 20, "c2: the route from c1")
    assert "dev dur-" in kernel_route(c2, ROUTE)
    write_members(lab, machines, RS)
    for name in names:
        assert agent(mesh, name).cli("agent", "reload").returncode == 0
    wait_for(lambda: c2.established(*RS) and sessions(c2) == set(RS), 45, "c2: back to the route servers")
    wait_for(lambda: {p["source"] for p in rib_paths(c2, ROUTE)} == set(RS), 30, "c2: the route via both again")
    assert "dev dur-" in kernel_route(c2, ROUTE) and ROUTE in wg_allowed(c2)[ms["c1"].pubkey]


def test_route_servers_enforce_a_members_allowed_prefixes(lab: Lab, mesh: dict[str, Any]) -> None:
    c2, c3 = agent(mesh, "c2"), agent(mesh, "c3")
    ms = mesh["machines"]
    assert c3.cli("announce", "add", "stray", "--route", "10.99.0.0/24").returncode == 0
    assert c3.cli("announce", "add", "ok", "--route", "10.77.1.0/24").returncode == 0
    # c2 hears c3 only through the route servers, so they are where the limit holds
    wait_for(lambda: "dev dur-" in kernel_route(c2, "10.77.1.0/24"), 20, "c2: c3's allowed route")
    assert rib_paths(c2, "10.99.0.0/24") == [] and kernel_route(c2, "10.99.0.0/24") == ""
    for name in RS:
        sock = route_server_socket(agent(mesh, name))
        wait_for(
            lambda sock=sock: "10.99.0.0/24" in str(gobgp_cli(sock, "neighbor", ms["c3"].mesh_addr, "adj-in")),  # type: ignore[misc]
            10,
            f"{name}: c3's stray route received",
        )
        assert not gobgp_cli(sock, "neighbor", ms["c2"].mesh_addr, "local", "10.99.0.0/24")


def test_route_servers_close_a_member_that_sends_more_than_its_max_prefixes(mesh: dict[str, Any]) -> None:
    c2, c3 = agent(mesh, "c2"), agent(mesh, "c3")
    ms = mesh["machines"]
    wait_for(lambda: "dev dur-" in kernel_route(c2, "10.77.1.0/24"), 20, "c2: c3's route")
    # c3 sends its mesh address, 192.168.78.0/24, 10.99.0.0/24, 10.77.1.0/24: five more is over the limit
    for i in range(2, 7):
        assert c3.cli("announce", "add", f"more{i}", "--route", f"10.77.{i}.0/24").returncode == 0
    for name in RS:
        sock = route_server_socket(agent(mesh, name))
        wait_for(
            lambda sock=sock: rs_client(sock, ms["c3"].mesh_addr)["state"].get("admin_state") == 3,  # type: ignore[misc]
            20,
            f"{name}: c3's session held down for its prefix limit",
        )
    # held down: c3 cannot come back by reconnecting (what it had sent stays stale at the route servers for
    # the graceful restart time, gobgpd 4.8: docs/security.md)
    wait_for(lambda: not c3.established("rs1") and not c3.established("rs2"), 20, "c3: both sessions down")
    assert all(
        rs_client(route_server_socket(agent(mesh, n)), ms["c3"].mesh_addr)["state"]["admin_state"] == 3 for n in RS
    )


def test_a_dead_member_loses_its_paths_at_every_client_within_the_hold_time(lab: Lab, mesh: dict[str, Any]) -> None:
    """The clients have no session to c1: the route servers' agents judge its data plane and disable its
    session there, so its paths go at once instead of staying stale for hold time + restart_time."""
    c1, c2 = agent(mesh, "c1"), agent(mesh, "c2")
    wait_for(lambda: len(rib_paths(c2, ROUTE)) == 2, 20, "c2: c1's route from both route servers")
    hold = int(c1.config["bgp"]["hold_time"])
    power_off(lab, c1, mesh["links"][c1.ns])
    wait_for(lambda: rib_paths(c2, ROUTE) == [] and kernel_route(c2, ROUTE) == "", hold, "c2: c1's route gone")
    for name in RS:
        sock = route_server_socket(agent(mesh, name))
        client = rs_client(sock, mesh["machines"]["c1"].mesh_addr)
        assert client["state"].get("admin_state") == 2, f"{name}: c1's session not disabled: {client['state']}"
