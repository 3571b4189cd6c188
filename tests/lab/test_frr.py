"""Interop with FRR 8.4 (Debian's `frr`: zebra, bgpd, bfdd) as an external neighbour of two agents.

Agent a announces a VIP behind a health check and runs BFD (300 ms x 3) with FRR; agent b announces a
route with graceful restart and no BFD. FRR originates a prefix both agents import. What is asserted is
what FRR's own CLI (vtysh, `... json`) and the agents' views say.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from .frr import BFD_PROFILE, Frr, bfdd_config, bgpd_config, start_frr
from .harness import AgentHandle, Lab, run, wait_for
from .test_liveness import power_off

pytestmark = pytest.mark.lab

NET = "10.95.0"
ROUTER = f"{NET}.254"
ROUTER_ASN = 4200000100
VIP = "10.52.7.10"
LAN_B = "10.97.12.0/24"  # agent b's route announcement
FRR_NET = "10.96.1.0/24"  # FRR originates it
# A long hold time towards a: whatever takes a's routes away well inside it is BFD, not BGP's hold timer.
HOLD = 90


def frr_conf() -> str:
    return bgpd_config(
        ROUTER,
        ROUTER_ASN,
        f""" neighbor {NET}.1 remote-as 4200000001
 neighbor {NET}.1 timers {HOLD // 3} {HOLD}
 neighbor {NET}.1 timers connect 1
 neighbor {NET}.1 bfd profile {BFD_PROFILE}
 neighbor {NET}.2 remote-as 4200000002
 neighbor {NET}.2 timers 3 9
 neighbor {NET}.2 timers connect 1
 address-family ipv4 unicast
  network {FRR_NET}
 exit-address-family
""",
    )


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    f, a, b = lab.ns("f"), lab.ns("a"), lab.ns("b")
    links = lab.segment("n", {f: f"{ROUTER}/24", a: f"{NET}.1/24", b: f"{NET}.2/24"})
    frr = start_frr(lab, "frr", f, frr_conf(), bfdd_config(300, 3))
    neighbour = {"name": "f", "address": ROUTER, "asn": ROUTER_ASN, "import": "accept", "export": "own"}
    cfg_a = lab.agent_config("a", 4200000001, f"{NET}.1", neighbors=[{**neighbour, "bfd": {"interval": "300ms"}}])
    cfg_a["bgp"].update(hold_time=HOLD, keepalive=HOLD // 3)
    # both agents start side by side: an agent's start is most of the module's time
    ha = lab.start_agent("a", a, cfg_a, wait=False)
    hb = lab.start_agent("b", b, lab.agent_config("b", 4200000002, f"{NET}.2", neighbors=[neighbour]), wait=False)
    lab.wait_agent(ha)
    lab.wait_agent(hb)
    healthy = lab.base / "a-healthy"
    healthy.touch()
    check = {
        "exec": {"command": ["test", "-f", str(healthy)]},
        "interval": "300ms",
        "healthy_threshold": 1,
        "unhealthy_threshold": 1,
    }
    objects = lab.base / "vip-a.yaml"
    objects.write_text(yaml.safe_dump({"announcements": [{"name": "vip", "vip": VIP, "health_check": check}]}))
    assert ha.cli("apply", "-f", str(objects)).returncode == 0
    assert hb.cli("announce", "add", "lan", "--route", LAN_B).returncode == 0
    for h in (ha, hb):
        wait_for(lambda h=h: h.established("f"), 40, f"{h.name}: session to FRR")  # type: ignore[misc]
    wait_for(lambda: frr.route(f"{VIP}/32") and frr.route(LAN_B), 30, "FRR: the VIP and b's route")
    return {"frr": frr, "a": ha, "b": hb, "healthy": healthy, "link_a": links[a]}


def frr_origin_as(frr: Frr, prefix: str) -> list[str]:
    route = frr.route(prefix) or {}
    return [p["aspath"]["string"] for p in route.get("paths", [])]


def test_frr_learns_the_agents_vip_and_routes(topo: dict[str, Any]) -> None:
    frr: Frr = topo["frr"]
    assert frr_origin_as(frr, f"{VIP}/32") == ["4200000001"]
    assert frr_origin_as(frr, LAN_B) == ["4200000002"]
    route = frr.route(f"{VIP}/32")
    assert route is not None
    (path,) = route["paths"]
    assert path["nexthops"][0]["ip"] == f"{NET}.1" and path["bestpath"]["overall"], path


def test_the_vip_is_withdrawn_at_frr_when_the_health_check_fails(topo: dict[str, Any]) -> None:
    frr: Frr = topo["frr"]
    topo["healthy"].unlink()
    try:
        wait_for(lambda: frr.route(f"{VIP}/32") is None, 20, "FRR to lose the VIP once a's check fails")
        assert frr.established(f"{NET}.1"), "the session went down instead of a withdrawal"
    finally:
        topo["healthy"].touch()
    wait_for(lambda: frr.route(f"{VIP}/32"), 20, "FRR to learn the VIP again once the check passes")


def test_the_agent_learns_and_installs_the_prefix_frr_originates(topo: dict[str, Any]) -> None:
    h: AgentHandle = topo["a"]

    def installed() -> dict[str, Any]:
        rows = h.api("GET", f"/v1/rib?prefix={FRR_NET}")
        row: dict[str, Any] = next((r for r in rows if r.get("prefix") == FRR_NET), {})
        return row if row and row["paths"][0]["installed"] else {}

    row = wait_for(installed, 20, f"a: {FRR_NET} in the RIB and installed")
    (path,) = row["paths"]
    assert (path["source"], path["next_hop"], path["as_path"]) == ("f", ROUTER, [ROUTER_ASN]), path
    (line,) = [ln for ln in h.cli("rib", FRR_NET).stdout.splitlines() if FRR_NET in ln]
    assert line.split()[:3] == ["*>F", FRR_NET, "f"] and str(ROUTER_ASN) in line, line  # F: in the kernel
    route = run(["ip", "-n", h.ns, "route", "show", FRR_NET]).stdout
    assert f"via {ROUTER}" in route and "proto bgp" in route, route


def test_bfd_is_up_on_both_sides(topo: dict[str, Any]) -> None:
    frr: Frr = topo["frr"]
    h: AgentHandle = topo["a"]
    wait_for(lambda: (h.peers()["f"]["liveness"] or {}).get("state") == "up", 30, "a: BFD up")

    def up() -> dict[str, Any]:
        p = frr.bfd_peer(f"{NET}.1")
        return p if p.get("status") == "up" else {}

    peer = wait_for(up, 30, "FRR: BFD up")
    assert peer["detect-multiplier"] == 3 and peer["transmit-interval"] == 300, peer
    assert frr.neighbor(f"{NET}.1")["peerBfdInfo"]["status"] == "Up"


def test_frr_keeps_b_s_route_stale_across_a_gobgpd_kill(lab: Lab, topo: dict[str, Any]) -> None:
    frr: Frr = topo["frr"]
    h: AgentHandle = topo["b"]
    assert frr.established(f"{NET}.2")
    gr = frr.neighbor(f"{NET}.2")["gracefulRestartInfo"]
    assert gr["remoteGrMode"] == "Restart", gr
    before = h.api("GET", "/v1/status")["gobgpd"]
    dropped = frr.neighbor(f"{NET}.2")["connectionsDropped"]
    run(["kill", "-9", str(before["pid"])])
    seen_stale = False

    def back() -> bool:
        nonlocal seen_stale
        route = frr.route(LAN_B)
        assert route is not None, "FRR dropped b's route while b's BGP restarted"
        stale = any(p.get("stale") for p in route["paths"])
        seen_stale = seen_stale or stale
        n = frr.neighbor(f"{NET}.2")
        return n.get("bgpState") == "Established" and n["connectionsDropped"] > dropped and not stale

    wait_for(back, 60, "FRR: b's session back and its route fresh")
    assert seen_stale, "FRR never marked b's route stale: the session did not restart gracefully"
    assert h.api("GET", "/v1/status")["gobgpd"]["restarts"] == before["restarts"] + 1


def test_power_off_drops_the_vip_at_frr_by_bfd(lab: Lab, topo: dict[str, Any]) -> None:
    frr: Frr = topo["frr"]
    h: AgentHandle = topo["a"]
    wait_for(lambda: frr.bfd_peer(f"{NET}.1").get("status") == "up" and frr.route(f"{VIP}/32"), 30, "VIP, BFD up")
    power_off(lab, h, topo["link_a"])
    wait_for(lambda: frr.route(f"{VIP}/32") is None, HOLD / 3, "FRR to drop a's VIP")
    n = frr.neighbor(f"{NET}.1")
    # FRR tells the peer why (RFC 9384), and it is BFD's verdict: the hold time has HOLD s to go
    assert n["lastNotificationReason"] == "Cease/BFD Down", n.get("lastNotificationReason")
    assert n["peerBfdInfo"]["status"] == "Down"
    assert frr.bfd_peer(f"{NET}.1")["status"] == "down"
    assert frr.route(LAN_B), "b's route went too"
