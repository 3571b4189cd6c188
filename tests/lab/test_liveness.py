"""Member liveness in the lab: three mesh members, a and b both announce a VIP (a preferred: b prepends its
AS), c uses it.

- a lossy underlay (30 % random loss on c's link) does not flap any member's liveness;
- gobgpd killed with -9 on a live machine (the only origin of a route): c pinging behind it every
  20 ms loses at most 2 packets, because its data plane still answers and graceful restart holds; so
  does that machine itself pinging behind a, because its kernel route and AllowedIPs stay while its
  respawned gobgpd re-learns them;
- a is powered off (its link cut and every process in its namespace SIGKILLed at once): c's best
  path and AllowedIPs for the VIP move to b, long before hold time, and `peers` says a is down.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from typing import Any

import pytest
import yaml

from .harness import AgentHandle, Lab, run, wait_for
from .mesh import Machine, keygen, mesh_config, wg_allowed, write_members
from .test_transit import Pinger, report

pytestmark = pytest.mark.lab

VIP = "10.50.0.10"
LAN_A = "192.168.77.0/24"
LAN_A_HOST = "192.168.77.1"
LAN_B = "192.168.78.0/24"
LAN_B_HOST = "192.168.78.1"


@pytest.fixture(scope="module")
def mesh(lab: Lab) -> dict[str, Any]:
    ms = [
        Machine("a", lab.ns("a"), "10.97.0.1", "100.64.0.1", 4200000001),
        Machine("b", lab.ns("b"), "10.97.0.2", "100.64.0.2", 4200000002),
        Machine("c", lab.ns("c"), "10.97.0.3", "100.64.0.3", 4200000003),
    ]
    links = lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms})
    for m in ms:
        keygen(lab, m)
    mf = write_members(lab, "m", ms)
    agents = {}
    for m in ms:
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, "m", 24, mf)])
        cfg["wireguard"] = {"backend": "userspace"}
        cfg["api"]["http"] = "127.0.0.1:9179"  # each namespace has its own loopback: /metrics
        agents[m.name] = lab.start_agent(m.name, m.ns, cfg)
    for h in agents.values():
        wait_for(lambda h=h: h.established(*(n for n in "abc" if n != h.name)), 60, f"{h.name}: mesh sessions")  # type: ignore[misc]
    for h in (agents["a"], agents["b"]):
        check = {"exec": {"command": ["/bin/true"]}, "interval": "1s", "healthy_threshold": 1}
        doc: dict[str, Any] = {"announcements": [{"name": "vip", "vip": VIP, "health_check": check}]}
        if h.name == "b":
            # b is the backup: one AS longer (MED is not compared between paths from different ASes)
            doc["policy_sets"] = [
                {
                    "name": "backup",
                    "rules": [
                        {
                            "name": "vip",
                            "match": {"prefixes": [f"{VIP}/32"]},
                            "actions": {"as_prepend": {"asn": "self"}, "result": "accept"},
                        }
                    ],
                }
            ]
            doc["export_policies"] = ["backup"]
        f = lab.base / f"vip-{h.name}.yaml"
        f.write_text(yaml.safe_dump(doc))
        assert h.cli("apply", "-f", str(f)).returncode == 0
    for h, lan, host in ((agents["a"], LAN_A, LAN_A_HOST), (agents["b"], LAN_B, LAN_B_HOST)):
        lab.sh(h.ns, f"ip addr add {host}/32 dev lo")
        assert h.cli("announce", "add", "lan", "--route", lan).returncode == 0
    return {"machines": {m.name: m for m in ms}, "agents": agents, "links": links}


def liveness(h: AgentHandle, member: str) -> str:
    lv = h.peers()[member]["liveness"]
    return str(lv["state"]) if lv else "-"


def transitions(h: AgentHandle) -> dict[str, int]:
    return {name: int(p["liveness"]["transitions"]) for name, p in h.peers().items() if p["liveness"]}


def vip_owner(c: AgentHandle, m: dict[str, Machine]) -> str | None:
    keys = {mm.pubkey: n for n, mm in m.items()}
    return next((keys[k] for k, v in wg_allowed(c).items() if f"{VIP}/32" in v), None)


def best_next_hop(c: AgentHandle, prefix: str) -> str | None:
    rows = c.api("GET", f"/v1/rib?prefix={prefix}")
    paths = rows[0]["paths"] if rows else []
    return str(paths[0]["next_hop"]) if paths and paths[0]["best"] else None


def all_up(agents: dict[str, AgentHandle]) -> bool:
    return all(liveness(h, n) == "up" for h in agents.values() for n in "abc" if n != h.name)


def test_members_are_up_and_a_carries_the_vip(mesh: dict[str, Any]) -> None:
    agents, m = mesh["agents"], mesh["machines"]
    c = agents["c"]
    wait_for(lambda: all_up(agents), 30, "every member's data plane up at every member")
    wait_for(lambda: vip_owner(c, m) == "a" and best_next_hop(c, f"{VIP}/32") == "100.64.0.1", 20, "c: VIP via a")
    out = c.cli("peers").stdout
    assert re.search(r"^a .* up [\d.]+ms$", out, re.M), out
    # no member was ever down, so liveness enabled no session: gobgpd takes an enable of an enabled peer as
    # a change ("Administrative start"; "code logic bug" when the session is not up yet)
    for h in agents.values():
        lines = [ln for ln in h.proc.log().splitlines() if "Administrative start" in ln or "code logic bug" in ln]
        assert not lines, f"{h.name}: {lines[:3]}"


def test_lossy_underlay_does_not_flap(lab: Lab, mesh: dict[str, Any]) -> None:
    agents = mesh["agents"]
    c = agents["c"]
    link = mesh["links"][c.ns]
    before = {n: transitions(h) for n, h in agents.items()}
    # 30 % random loss on everything c sends on the underlay (netem's i.i.d. loss, as an nftables rule:
    # the lab kernel has no sch_netem); echoes from c and c's answers to the others both cross it
    lab.sh(c.ns, "nft add table inet durlossy")
    lab.sh(c.ns, "nft 'add chain inet durlossy out { type filter hook output priority 0; }'")
    lab.sh(c.ns, f"nft add rule inet durlossy out oifname {link} numgen random mod 100 '<' 30 drop")
    try:
        # a bounded period: 30 s, some 1,600 echoes from and to c cross the lossy link
        pinger = Pinger(c.ns, "100.64.0.1", interval=0.05)
        time.sleep(30)
        sent, received = pinger.stop()
        print(f"30 % loss on c's underlay: {sent - received} of {sent} pings lost")
        assert received < 0.85 * sent  # the loss is real
    finally:
        lab.sh(c.ns, "nft delete table inet durlossy", check=False)
    assert {n: transitions(h) for n, h in agents.items()} == before
    assert all_up(agents)


def test_gobgpd_kill9_on_the_only_origin_loses_at_most_2_packets(lab: Lab, mesh: dict[str, Any]) -> None:
    agents = mesh["agents"]
    b, c = agents["b"], agents["c"]
    wait_for(lambda: best_next_hop(c, LAN_B) == "100.64.0.2", 20, "c: b's LAN via b")
    wait_for(lambda: lab.sh(c.ns, f"ping -c1 -W1 {LAN_B_HOST}", check=False).returncode == 0, 20, "c pings b's LAN")
    wait_for(lambda: lab.sh(b.ns, f"ping -c1 -W1 {LAN_A_HOST}", check=False).returncode == 0, 20, "b pings a's LAN")
    before = transitions(c)
    st = b.api("GET", "/v1/status")["gobgpd"]
    pinger, back = Pinger(c.ns, LAN_B_HOST), Pinger(b.ns, LAN_A_HOST)
    time.sleep(0.5)  # the pinger is running before the kill
    os.kill(st["pid"], signal.SIGKILL)
    wait_for(lambda: b.api("GET", "/v1/status")["gobgpd"]["restarts"] > st["restarts"], 30, "b: gobgpd respawned")
    wait_for(lambda: b.established("a", "c") and c.established("b"), 60, "sessions to b back")
    wait_for(lambda: not any(p["stale"] for p in c.api("GET", f"/v1/rib?prefix={LAN_B}")[0]["paths"]), 30, "not stale")
    wait_for(lambda: best_next_hop(b, LAN_A) == "100.64.0.1", 30, "b: a's LAN learned again")
    sent, received = pinger.stop()
    report("b's gobgpd kill -9 (b the only origin), c pinging behind b", sent, received)
    sent_back, received_back = back.stop()
    report("  b itself pinging behind a meanwhile", sent_back, received_back)
    assert sent - received <= 2
    assert sent_back - received_back <= 2
    assert transitions(c) == before and liveness(c, "b") == "up"  # b's data plane never went away


def test_power_off_moves_the_vip_at_once(lab: Lab, mesh: dict[str, Any]) -> None:
    agents, m = mesh["agents"], mesh["machines"]
    a, c = agents["a"], agents["c"]
    wait_for(lambda: vip_owner(c, m) == "a", 20, "c: VIP via a")
    hold = int(a.config["bgp"]["hold_time"])
    power_off(lab, a, mesh["links"][a.ns])
    # the best path, the AllowedIPs and the kernel route follow b, with a's session still inside its hold
    # time (graceful restart would otherwise keep a's paths stale for hold time + restart_time)
    wait_for(lambda: best_next_hop(c, f"{VIP}/32") == "100.64.0.2", hold, "c: best path for the VIP via b")
    wait_for(lambda: vip_owner(c, m) == "b", 5, "c: VIP in b's AllowedIPs")
    route = run(["ip", "-n", c.ns, "route", "show", f"{VIP}/32"]).stdout
    assert "dev dur-" in route and "proto bgp" in route, route
    assert liveness(c, "a") == "down"
    wait_for(lambda: liveness(agents["b"], "a") == "down", 10, "b: a down too (its own probes)")
    assert c.peers()["a"]["state"] != "established"
    rows = c.api("GET", f"/v1/rib?prefix={VIP}/32")[0]["paths"]
    assert [p["next_hop"] for p in rows] == ["100.64.0.2"]  # a's path is gone, not kept stale
    metrics = lambda: lab.sh(c.ns, "curl -sf http://127.0.0.1:9179/metrics").stdout  # noqa: E731
    wait_for(lambda: 'durantic_failover_seconds_count{cause="member_death"} 1.0' in metrics(), 10, "failover metric")
    assert 'durantic_member_alive{member="a"} 0.0' in metrics()
    assert 'durantic_member_liveness_transitions_total{member="a",to="down"} 1.0' in metrics()


def power_off(lab: Lab, h: AgentHandle, link: str) -> None:
    """As if the machine lost power: its underlay link and every process in its namespace gone at once
    (no FIN, RST or NOTIFICATION reaches anyone)."""
    power_off_ns(lab, h.ns, link)


def power_off_ns(lab: Lab, ns: str, link: str) -> None:
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    subprocess.run(["ip", "-n", ns, "link", "set", link, "down"], check=True)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
