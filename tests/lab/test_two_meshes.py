"""Two meshes joined by one machine: X = {a, b} and Y = {b, c}; b has one WireGuard interface per mesh.

a and c share no underlay and no mesh, so when c pings an address behind a, the packets can only go
c -> b over mesh Y's WireGuard, then b -> a over mesh X's, and back: b relays a's route into Y and c's
mesh address into X by BGP.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .harness import Lab, run, wait_for
from .mesh import Machine, keygen, members_doc, mesh_config

pytestmark = pytest.mark.lab

PORT_X, PORT_Y = 51820, 51821


@pytest.fixture(scope="module")
def meshes(lab: Lab) -> dict[str, Any]:
    a_ns, b_ns, c_ns = lab.ns("a"), lab.ns("b"), lab.ns("c")
    lab.link(a_ns, "10.91.1.1/24", b_ns, "10.91.1.2/24")  # underlay of X
    lab.link(b_ns, "10.91.2.2/24", c_ns, "10.91.2.3/24")  # underlay of Y
    a = Machine("a", a_ns, "10.91.1.1", "100.64.1.1", 4200000001)
    bx = Machine("b", b_ns, "10.91.1.2", "100.64.1.2", 4200000002)
    by = Machine("b", b_ns, "10.91.2.2", "100.64.2.2", 4200000002)
    c = Machine("c", c_ns, "10.91.2.3", "100.64.2.3", 4200000003)
    for m in (a, bx, c):
        keygen(lab, m)
    by.keyfile, by.pubkey = bx.keyfile, bx.pubkey  # one machine, one key, used on both interfaces
    files = {}
    for mesh, machines, port in (("x", [a, bx], PORT_X), ("y", [by, c], PORT_Y)):
        f = lab.base / f"members-{mesh}.yaml"
        f.write_text(yaml.safe_dump(members_doc(machines, port)))
        files[mesh] = str(f)
    agents = {}
    for m, meshes_of in (
        (a, [(a, "x", PORT_X)]),
        (bx, [(bx, "x", PORT_X), (by, "y", PORT_Y)]),
        (c, [(c, "y", PORT_Y)]),
    ):
        cfg = lab.agent_config(
            m.name,
            m.asn,
            m.mesh_addr,
            meshes=[mesh_config(lab, mm, name, 24, files[name], port) for mm, name, port in meshes_of],
        )
        cfg["wireguard"] = {"backend": "userspace"}
        agents[m.name] = lab.start_agent(m.name, m.ns, cfg)
    wait_for(lambda: agents["b"].established("a", "c"), 45, "b: sessions to a (mesh x) and c (mesh y)")
    wait_for(lambda: agents["a"].established("b") and agents["c"].established("b"), 15, "a, c: session to b")
    return agents


def test_b_has_one_interface_per_mesh(lab: Lab, meshes: dict[str, Any]) -> None:
    b = meshes["b"]
    ifaces = [m["interface"] for m in b.config["meshes"]]
    for ifname, addr in zip(ifaces, ("100.64.1.2/24", "100.64.2.2/24"), strict=True):
        assert f"inet {addr}" in run(["ip", "-n", b.ns, "addr", "show", "dev", ifname]).stdout
    peers = b.peers()
    assert (peers["a"]["address"], peers["c"]["address"]) == ("100.64.1.1", "100.64.2.3")
    assert set(meshes["a"].peers()) == {"b"} and set(meshes["c"].peers()) == {"b"}
    # `durantic status` names both meshes: interface, own address, one other member each
    st = b.api("GET", "/v1/status")
    got = [(m["interface"], m["address"], m["members"], m["up"]) for m in st["meshes"]]
    assert got == [(ifaces[0], "100.64.1.2/24", 1, True), (ifaces[1], "100.64.2.2/24", 1, True)], got
    text = b.cli("status").stdout
    assert all(f"mesh       {m['name']}  {m['interface']}" in text for m in b.config["meshes"]), text


def test_c_reaches_a_route_via_b(lab: Lab, meshes: dict[str, Any]) -> None:
    a, b, c = meshes["a"], meshes["b"], meshes["c"]
    lab.sh(a.ns, "ip addr add 192.168.88.1/32 dev lo")
    r = a.cli("announce", "add", "lan-a", "--route", "192.168.88.0/24")
    assert r.returncode == 0, r.stderr
    c_if = c.config["meshes"][0]["interface"]
    route = wait_for(
        lambda: run(["ip", "-n", c.ns, "route", "show", "192.168.88.0/24"]).stdout, 20, "c: route to a's subnet"
    )
    # a dev route: WireGuard picks the peer (b) by its AllowedIPs
    assert f"dev {c_if} proto bgp" in route, route
    # b relays a's route into mesh y (AS path b a) and c's own address back into mesh x
    rows = c.api("GET", "/v1/rib?prefix=192.168.88.0/24")
    assert rows[0]["paths"][0]["as_path"] == [4200000002, 4200000001], rows
    a_if = a.config["meshes"][0]["interface"]
    back = wait_for(lambda: run(["ip", "-n", a.ns, "route", "show", "100.64.2.3"]).stdout, 20, "a: route to c")
    assert f"dev {a_if} proto bgp" in back, back
    ok = lambda: lab.sh(c.ns, "ping -c1 -W1 192.168.88.1", check=False).returncode == 0  # noqa: E731
    wait_for(ok, 20, "c pings 192.168.88.1 on a's lo through b")
    # and the packets really cross b's two WireGuard interfaces
    for ifname in (m["interface"] for m in b.config["meshes"]):
        stats = run(["ip", "-s", "-n", b.ns, "link", "show", "dev", ifname]).stdout
        assert int(stats.split("RX:")[1].splitlines()[1].split()[1]) > 0, stats  # packets received
