"""Transit in the lab: A and C cannot reach each other's underlay (separate segments; B and D sit on
both). A reaches C's mesh address and a prefix behind C through a relay, their BGP session is
Established across it, and `durantic peers` says so. A direct underlay link moves them to Direct,
removing it moves them back; when the relay dies, traffic moves to the other one.

Replies crossing a relay arrive with TTL 63 (one forwarding hop), direct ones with 64: the tests read
the path from the ping output itself.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .harness import AgentHandle, Lab, wait_for
from .mesh import Machine, keygen, mesh_config, write_members

pytestmark = pytest.mark.lab

LAN_C = "192.168.88.0/24"
LAN_C_HOST = "192.168.88.1"


@dataclass
class TransitMesh:
    machines: dict[str, Machine]
    agents: dict[str, AgentHandle]
    direct_link: tuple[str, str] | None = None


def build_transit_mesh(lab: Lab, names: str = "abcd") -> TransitMesh:
    """A on the left segment, C on the right, the others on both. Underlay endpoints are loopback
    addresses (10.96.0.N) reached by host routes, so a direct A-C link is one veth plus two routes.
    D, when present, is listed without an endpoint."""
    idx = {n: i + 1 for i, n in enumerate("abcd")}
    ms = {n: Machine(n, lab.ns(n), f"10.96.0.{idx[n]}", f"100.64.0.{idx[n]}", 4200000000 + idx[n]) for n in names}
    left = {n for n in names if n != "c"}
    right = {n for n in names if n != "a"}
    lab.segment("l", {ms[n].ns: f"10.97.1.{idx[n]}/24" for n in sorted(left)})
    lab.segment("r", {ms[n].ns: f"10.97.2.{idx[n]}/24" for n in sorted(right)})
    for n, m in ms.items():
        # strict reverse-path filtering, as on many hosts: relayed packets must still pass it
        lab.sh(m.ns, "sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1")
        lab.sh(m.ns, f"ip addr add {m.underlay}/32 dev lo")
        for o in names:
            if o == n:
                continue
            seg = 1 if n in left and o in left else 2 if n in right and o in right else None
            if seg is not None:
                lab.sh(m.ns, f"ip route add 10.96.0.{idx[o]}/32 via 10.97.{seg}.{idx[o]}")
    for m in ms.values():
        keygen(lab, m)
    mf = write_members(lab, "m", list(ms.values()))
    # d has no endpoint (as if behind NAT: it only initiates); the others reach it once it handshakes
    doc = yaml.safe_load(Path(mf).read_text())
    for member in doc["members"]:
        if member["name"] == "d":
            del member["endpoint"]
    Path(mf).write_text(yaml.safe_dump(doc))
    agents = {}
    for n, m in ms.items():
        cfg = lab.agent_config(n, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, "m", 24, mf)])
        cfg["wireguard"] = {"backend": "userspace"}
        cfg["api"]["http"] = "127.0.0.1:9179"  # each namespace has its own loopback: /metrics
        agents[n] = lab.start_agent(n, m.ns, cfg)
    c = agents["c"]
    lab.sh(c.ns, f"ip addr add {LAN_C_HOST}/32 dev lo")
    assert c.cli("announce", "add", "lan", "--route", LAN_C).returncode == 0
    return TransitMesh(ms, agents)


def add_direct_link(lab: Lab, tm: TransitMesh) -> None:
    a, c = tm.machines["a"], tm.machines["c"]
    tm.direct_link = lab.link(a.ns, "10.97.3.1/30", c.ns, "10.97.3.2/30")
    lab.sh(a.ns, f"ip route add {c.underlay}/32 via 10.97.3.2")
    lab.sh(c.ns, f"ip route add {a.underlay}/32 via 10.97.3.1")


def remove_direct_link(lab: Lab, tm: TransitMesh) -> None:
    assert tm.direct_link is not None
    lab.unlink(tm.machines["a"].ns, tm.direct_link[0])  # the routes over it go with it
    tm.direct_link = None


def ping_ttl(lab: Lab, ns: str, addr: str) -> int | None:
    """TTL of the reply to one ping, None if none came back."""
    out = lab.sh(ns, f"ping -c1 -W1 {addr}", check=False).stdout
    m = re.search(r"ttl=(\d+)", out)
    return int(m.group(1)) if m else None


def path_type(h: AgentHandle, name: str) -> str:
    return str(h.peers()[name]["path_type"])


class Pinger:
    """A continuous ping (every 20 ms) whose losses are counted when it stops."""

    def __init__(self, ns: str, addr: str, interval: float = 0.02) -> None:
        self.interval = interval
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "ping", "-n", "-i", str(interval), "-W", "1", addr],
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> tuple[int, int]:
        """(sent, received)."""
        self.p.send_signal(signal.SIGINT)
        out, _ = self.p.communicate(timeout=10)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        return int(m.group(1)), int(m.group(2))


def report(what: str, sent: int, received: int, interval: float = 0.02) -> None:
    lost = sent - received
    print(f"{what}: {sent} sent, {lost} lost (~{lost * interval * 1000:.0f} ms without replies)")


@pytest.fixture(scope="module")
def tm(lab: Lab) -> TransitMesh:
    return build_transit_mesh(lab)


def test_a_reaches_c_through_a_relay(lab: Lab, tm: TransitMesh) -> None:
    a, c = tm.agents["a"], tm.agents["c"]
    wait_for(lambda: path_type(a, "c") == "Transit via b", 60, "a: c is Transit via b")
    wait_for(lambda: path_type(c, "a") == "Transit via b", 30, "c: a is Transit via b")
    wait_for(lambda: a.established("b", "c", "d"), 60, "a: every session, c's across the relay")
    wait_for(lambda: ping_ttl(lab, a.ns, "100.64.0.3") == 63, 20, "a pings c's mesh address via one hop")
    wait_for(lambda: ping_ttl(lab, a.ns, LAN_C_HOST) == 63, 20, "a pings the prefix behind c via one hop")
    assert path_type(a, "b") == "Direct"
    assert path_type(a, "d") == "Direct" and a.peers()["d"]["wg_endpoint"], "d (no endpoint) reached directly"
    out = a.cli("peers").stdout
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["c"])
    assert "Transit via b" in line, out
    # the prefix behind c: next hop c, reached through b
    rows = a.api("GET", f"/v1/rib?prefix={LAN_C}")
    best = rows[0]["paths"][0]
    assert best["installed"] and best["reach"] in ("transit via b",), best
    # the session to c rides the relay: the same session (same uptime) a few keepalives later
    up = a.peers()["c"]["established_at"]
    time.sleep(4)
    assert a.established("c") and a.peers()["c"]["established_at"] == up
    assert switches(lab, a, "c", "transit") >= 1


def test_direct_link_switches_to_direct_and_back(lab: Lab, tm: TransitMesh) -> None:
    a, c = tm.agents["a"], tm.agents["c"]
    uptime0 = a.peers()["c"]["established_at"]
    direct0 = switches(lab, a, "c", "direct")
    pinger = Pinger(a.ns, LAN_C_HOST)
    t0 = time.monotonic()
    add_direct_link(lab, tm)
    wait_for(lambda: path_type(a, "c") == "Direct" and path_type(c, "a") == "Direct", 30, "a and c Direct")
    t_direct = time.monotonic() - t0
    wait_for(lambda: ping_ttl(lab, a.ns, LAN_C_HOST) == 64, 10, "replies come back direct")
    time.sleep(0.5)  # let the pinger record the settled path before it stops
    report(f"transit -> direct (both ends Direct after {t_direct:.1f} s)", *pinger.stop())

    pinger = Pinger(a.ns, LAN_C_HOST)
    t0 = time.monotonic()
    remove_direct_link(lab, tm)
    wait_for(lambda: path_type(a, "c") == "Transit via b", 30, "a: c back to Transit via b")
    t_transit = time.monotonic() - t0
    wait_for(lambda: ping_ttl(lab, a.ns, LAN_C_HOST) == 63, 10, "replies via the relay again")
    time.sleep(0.5)
    sent, received = pinger.stop()
    report(f"direct -> transit (Transit via b after {t_transit:.1f} s)", sent, received)
    assert received > 0
    session_report(a, uptime0)
    assert switches(lab, a, "c", "direct") == direct0 + 1


def test_relay_fails_traffic_moves_to_the_other_relay(lab: Lab, tm: TransitMesh) -> None:
    a, c = tm.agents["a"], tm.agents["c"]
    wait_for(lambda: path_type(a, "c") == "Transit via b", 30, "a: c via b")
    uptime0 = a.peers()["c"]["established_at"]
    pinger = Pinger(a.ns, LAN_C_HOST)
    time.sleep(0.5)
    t0 = time.monotonic()
    lab.stop_agent(tm.agents["b"], signal.SIGKILL)  # its gobgpd and wireguard-go die with it
    wait_for(lambda: path_type(a, "c") == "Transit via d", 30, "a: c moves to d")
    wait_for(lambda: path_type(c, "a") == "Transit via d", 30, "c: a moves to d")
    t_move = time.monotonic() - t0
    wait_for(lambda: ping_ttl(lab, a.ns, LAN_C_HOST) == 63, 10, "replies via d")
    time.sleep(0.5)
    sent, received = pinger.stop()
    report(f"relay b killed -> transit via d after {t_move:.1f} s", sent, received)
    assert received > 0
    # data-plane liveness drops b's paths before b's tunnel falls silent for transit: wait for both
    wait_for(lambda: path_type(a, "b") != "Direct", 15, "a: b no longer Direct")
    session_report(a, uptime0)


def session_report(a: AgentHandle, uptime0: str) -> None:
    """The a-c session is Established after the switch. It survives when detection plus TCP's retransmission
    backoff stays under the hold time; else it re-establishes across the new path (graceful restart keeps
    its routes meanwhile)."""
    wait_for(lambda: a.established("c"), 30, "a-c session Established on the new path")
    same = a.peers()["c"]["established_at"] == uptime0
    print(f"  a-c BGP session: {'survived' if same else 're-established over the new path'}")


def switches(lab: Lab, h: AgentHandle, member: str, path: str) -> float:
    out = lab.sh(h.ns, "curl -sf http://127.0.0.1:9179/metrics").stdout
    m = re.search(rf'^durantic_transit_switches_total{{member="{member}",path="{path}"}} (\S+)$', out, re.M)
    return float(m.group(1)) if m else 0.0
