"""Issue 21, the BGP side: a hung gobgpd sidecar (class 5) and hostile peers (class 8), against real
processes: the agent's own gobgpd stopped with SIGSTOP, BIRD 2 neighbours and mesh members. Each test
names the class it holds."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from .harness import DURANTIC, Lab, run, wait_for

pytestmark = pytest.mark.lab

BIRD_CONF = """
router id 10.94.0.{n};
log stderr all;
protocol device {{}}
protocol static s1 {{ ipv4; {routes} }}
protocol bgp b{n} {{
  local 10.94.0.{n} as 420000000{n};
  neighbor 10.94.0.1 as 4200000001;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1; error wait time 1, 2;
  ipv4 {{ import all; export where proto = "s1"; }};
}}
"""
OWN = "10.72.0.0/24"  # the agent's announcement


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout


def has_route(sock: Path, prefix: str) -> bool:
    return prefix in birdc(sock, "show", "route", prefix)


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
    _, sock = lab.start_bird("hung-bird", b, BIRD_CONF.format(n=2, routes=""))
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
