"""Issue 21, the BGP side: a hung gobgpd sidecar (class 5) and hostile peers (class 8), against real
processes: the agent's own gobgpd stopped with SIGSTOP, BIRD 2 neighbours and mesh members. Each test
names the class it holds."""

from __future__ import annotations

import os
import signal
import subprocess
from functools import partial

import pytest
import yaml

from .harness import DURANTIC, AgentHandle, Lab, bird_neighbour, birdc, run, wait_for
from .harness import bird_has_route as has_route
from .mesh import Machine, keygen, members_doc, mesh_config

pytestmark = pytest.mark.lab

OWN = "10.72.0.0/24"  # the agent's announcement


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")  # a zombie is gone too
    except FileNotFoundError:
        return True


# ----- class 5: a hung sidecar ---------------------------------------------------------------------


def test_stopped_gobgpd_status_answers_says_unresponsive_and_the_watchdog_restarts_it(lab: Lab) -> None:
    """Class 5: SIGSTOP the agent's gobgpd. `durantic status` keeps answering (each call bounded, never
    hanging) and says gobgpd is unresponsive; the watchdog kills and restarts it; the route comes back."""
    a, b = lab.ns("hung-a"), lab.ns("hung-b")
    lab.segment("hung", {a: "10.94.0.1/24", b: "10.94.0.2/24"})
    _, sock = lab.start_bird("hung-bird", b, bird_neighbour("10.94.0", n=2, routes=""))
    neighbour = {"name": "b2", "address": "10.94.0.2", "asn": 4200000002}
    cfg = lab.agent_config("hung-a", 4200000001, "10.94.0.1", neighbors=[neighbour])
    h = lab.start_agent("hung-a", a, cfg)
    assert h.cli("announce", "add", "lan", "--route", OWN).returncode == 0
    wait_for(lambda: has_route(sock, OWN), 40, "BIRD to learn the agent's route")
    before = h.api("GET", "/v1/status")["gobgpd"]
    pid = before["pid"]
    slow: list[str] = []

    def status_text() -> str:
        """`durantic status`, which must answer within 3 s every time (its own goal is 1 s: see bench)."""
        env = dict(os.environ, DURANTIC_SOCKET=str(h.socket))
        try:
            r = subprocess.run(
                ["ip", "netns", "exec", h.ns, DURANTIC, "status"], text=True, capture_output=True, env=env, timeout=3
            )
        except subprocess.TimeoutExpired:
            slow.append("durantic status did not answer within 3 s")
            return ""
        assert r.returncode == 0, r.stderr
        return r.stdout

    os.kill(pid, signal.SIGSTOP)
    try:
        out = wait_for(
            lambda: next((t for t in [status_text()] if "UNRESPONSIVE" in t), ""), 20, "status to say unresponsive"
        )
        assert "GetBgp probes unanswered" in out, out
        st = h.api("GET", "/v1/status")
        assert st["gobgpd"]["responsive"] is False and st["gobgpd"]["unresponsive_since"], st["gobgpd"]
        assert {p["name"]: p["state"] for p in st["peers"]} == {"b2": "unknown"}
        wait_for(lambda: gone(pid), 20, "the watchdog to kill the hung gobgpd")
        new = wait_for(
            lambda: (g := h.api("GET", "/v1/status")["gobgpd"])["ready"] and g["pid"] != pid and g, 20, "a new gobgpd"
        )
        assert new["hung_kills"] == 1 and new["restarts"] == before["restarts"] + 1 and new["responsive"], new
        assert slow == [], slow
        wait_for(lambda: has_route(sock, OWN), 40, "the agent's route back on BIRD from the new gobgpd")
        assert "UNRESPONSIVE" not in status_text()
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


# ----- class 8: hostile neighbours ------------------------------------------------------------------


def metrics(ns: str, port: int) -> str:
    """The agent's /metrics, fetched from inside its namespace."""
    code = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code, f"http://127.0.0.1:{port}/metrics"]).stdout


def kernel_route(ns: str, prefix: str) -> str:
    return run(["ip", "-n", ns, "route", "show", "exact", prefix]).stdout.strip()


def test_neighbour_over_max_prefixes_is_ceased_others_stay_and_no_default_route_reaches_the_kernel(lab: Lab) -> None:
    """Class 8: b3 sends 12 routes against max_prefixes 5: its session closes with a Cease (BIRD reads
    it), is held down and shown in peers, status and metrics; the other sessions are untouched. b2
    (`import: accept`) sends a default route, rejected all the same, and a route that reaches the kernel.
    b4 has no import setting (RFC 8212): its route is rejected and shown so in `rib --all`; it gets the
    agent's own route but not b2's; a reload that gives it `import: accept` brings its route in."""
    a, b2, b3, b4 = (lab.ns(f"pfx-{n}") for n in ("a", "b2", "b3", "b4"))
    lab.segment("pfx", {a: "10.94.0.1/24", b2: "10.94.0.2/24", b3: "10.94.0.3/24", b4: "10.94.0.4/24"})
    flood = " ".join(f"route 10.82.{i}.0/24 blackhole;" for i in range(12))
    default_and_one = "route 0.0.0.0/0 blackhole; route 10.81.0.0/24 blackhole;"
    _, s2 = lab.start_bird("pfx-bird2", b2, bird_neighbour("10.94.0", n=2, routes=default_and_one))
    bird3, s3 = lab.start_bird("pfx-bird3", b3, bird_neighbour("10.94.0", n=3, routes=flood))
    _, s4 = lab.start_bird("pfx-bird4", b4, bird_neighbour("10.94.0", n=4, routes="route 10.84.0.0/24 blackhole;"))
    port = 19181
    cfg = lab.agent_config(
        "pfx-a",
        4200000001,
        "10.94.0.1",
        neighbors=[
            {"name": "b2", "address": "10.94.0.2", "asn": 4200000002, "import": "accept"},
            {"name": "b3", "address": "10.94.0.3", "asn": 4200000003, "max_prefixes": 5, "import": "accept"},
            {"name": "b4", "address": "10.94.0.4", "asn": 4200000004},
        ],
    )
    cfg["api"]["http"] = f"127.0.0.1:{port}"
    h = lab.start_agent("pfx-a", a, cfg)
    assert h.cli("announce", "add", "lan", "--route", OWN).returncode == 0
    wait_for(lambda: kernel_route(a, "10.81.0.0/24"), 40, "b2's route in the kernel")
    wait_for(lambda: h.peers()["b3"]["prefix_limited"], 40, "b3 held down by its prefix limit")
    # BIRD's log, not only its protocol state: it tries again after 1-2 s (error wait time), and the
    # refused attempts replace the Cease as its "last error"
    wait_for(
        lambda: "Maximum number of prefixes" in bird3.log() + birdc(s3, "show", "protocols", "all", "b3"),
        40,
        "BIRD to read the Cease",
    )
    wait_for(lambda: h.established("b2", "b4"), 40, "b2 and b4 established")
    peers = h.peers()
    assert peers["b3"]["state"] != "established" and "prefix limit" in peers["b3"]["reason"], peers["b3"]
    up2 = peers["b2"]["established_at"]
    out = h.cli("status").stdout
    assert "max_prefixes 5 exceeded" in out, out
    assert "max_prefixes 5 exceeded" in h.cli("peers").stdout
    m = metrics(a, port)
    assert 'durantic_peer_prefix_limited{peer="b3"} 1.0' in m, m
    assert 'durantic_peer_prefix_limit_shutdowns_total{peer="b3"} 1.0' in m, m
    assert 'durantic_peer_prefix_limited{peer="b2"} 0.0' in m and 'durantic_peer_established{peer="b2"} 1.0' in m
    # held down: b3 does not come back by itself, and none of its routes are in the kernel
    wait_for(lambda: not any(kernel_route(a, f"10.82.{i}.0/24") for i in range(12)), 20, "b3's routes gone")
    assert h.peers()["b3"]["prefix_limited"] and h.peers()["b2"]["established_at"] == up2
    # b2's default route: rejected on import, so neither in the RIB nor in the kernel
    assert "0.0.0.0/0" in birdc(s2, "show", "route", "export", "b2"), "b2 never sent its default route"
    assert kernel_route(a, "0.0.0.0/0") == ""
    rib = h.api("GET", "/v1/rib")
    assert all(r["prefix"] not in ("0.0.0.0/0", "10.84.0.0/24") for r in rib), rib
    assert any(r["prefix"] == "10.81.0.0/24" for r in rib)
    # RFC 8212: b4's route is not imported; b4 gets the agent's own route, not the one learned from b2
    assert kernel_route(a, "10.84.0.0/24") == ""
    wait_for(lambda: has_route(s4, OWN), 20, "b4 to get the agent's own route")
    assert not has_route(s4, "10.81.0.0/24"), "b2's route was exported to b4 without a policy"
    shown = h.cli("rib", "--all").stdout
    line = {p: next((ln for ln in shown.splitlines() if p in ln), "") for p in ("0.0.0.0/0", "10.84.0.0/24")}
    assert "default route from neighbour b2 (accept_default_route is false)" in line["0.0.0.0/0"], shown
    assert "neighbour b4 has import: reject" in line["10.84.0.0/24"], shown
    # one reload: b4 gets `import: accept` (its route is re-evaluated, its session kept) and b3 a higher
    # limit (the peer is configured again, so its session comes back with its 12 routes)
    up4 = h.peers()["b4"]["established_at"]
    cfg["neighbors"][2]["import"] = "accept"
    cfg["neighbors"][1]["max_prefixes"] = 50
    h.write_config(cfg)
    assert h.cli("agent", "reload").returncode == 0
    wait_for(lambda: kernel_route(a, "10.84.0.0/24"), 20, "b4's route in the kernel after import: accept")
    assert h.peers()["b4"]["established_at"] == up4 and kernel_route(a, "0.0.0.0/0") == ""
    wait_for(lambda: h.established("b3") and not h.peers()["b3"]["prefix_limited"], 40, "b3 back under a higher limit")
    wait_for(lambda: all(kernel_route(a, f"10.82.{i}.0/24") for i in range(12)), 20, "b3's routes in the kernel")
    assert 'durantic_peer_prefix_limited{peer="b3"} 0.0' in metrics(a, port)


# ----- class 8: a mesh member announcing what is not its own -------------------------------------------


def rib_all_with(h: AgentHandle, prefix: str) -> str:
    """`durantic rib --all` once it lists `prefix` ("" before)."""
    out = h.cli("rib", "--all").stdout
    return out if prefix in out else ""


def test_member_route_outside_allowed_prefixes_is_rejected_at_every_member_and_shown_in_rib_all(lab: Lab) -> None:
    """Class 8: a's entry in the members file allows 192.168.60.0/24 only. a announces it and
    192.168.61.0/24: b and c install the first, reject the second on import (not in their kernel, not
    relayed), and `rib --all` shows it rejected with the reason."""
    ms = [
        Machine("ma", lab.ns("ma"), "10.96.0.1", "100.65.0.1", 4200000001),
        Machine("mb", lab.ns("mb"), "10.96.0.2", "100.65.0.2", 4200000002),
        Machine("mc", lab.ns("mc"), "10.96.0.3", "100.65.0.3", 4200000003),
    ]
    lab.segment("own", {m.ns: f"{m.underlay}/24" for m in ms})
    for m in ms:
        keygen(lab, m)
    doc = members_doc(ms)
    doc["members"][0]["allowed_prefixes"] = ["192.168.60.0/24"]
    mf = lab.base / "members-own.yaml"
    mf.write_text(yaml.safe_dump(doc))
    agents = {}
    for m in ms:
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, "m", 24, str(mf))])
        cfg["wireguard"] = {"backend": "userspace"}
        agents[m.name] = lab.start_agent(m.name, m.ns, cfg)
    a, b, c = agents["ma"], agents["mb"], agents["mc"]
    wait_for(lambda: a.established("mb", "mc") and b.established("mc"), 45, "the mesh's sessions")
    assert a.cli("announce", "add", "allowed", "--route", "192.168.60.0/24").returncode == 0
    assert a.cli("announce", "add", "foreign", "--route", "192.168.61.0/24").returncode == 0
    for h in (b, c):
        wait_for(partial(kernel_route, h.ns, "192.168.60.0/24"), 20, f"{h.name}: a's allowed route in the kernel")
        got = wait_for(partial(rib_all_with, h, "192.168.61.0/24"), 20, f"{h.name}: rib --all")
        line = next(ln for ln in got.splitlines() if "192.168.61.0/24" in ln)
        assert "rejected on import: outside the allowed_prefixes of ma" in line, got
        assert kernel_route(h.ns, "192.168.61.0/24") == "", f"{h.name} installed a's foreign route"
        rows = h.api("GET", "/v1/rib")
        assert all(r["prefix"] != "192.168.61.0/24" for r in rows), rows  # not in the RIB, so never relayed
        assert any(r["prefix"] == "192.168.60.0/24" for r in rows)
    # the mesh address of a is always allowed: its session and its /32 still work
    assert b.established("ma") and c.established("ma")
    assert any(r["prefix"] == "100.65.0.1/32" for r in b.api("GET", "/v1/rib")), "a's mesh address was rejected"
    assert a.api("GET", "/v1/rib") and any(r["prefix"] == "192.168.61.0/24" for r in a.api("GET", "/v1/rib"))
