"""An external neighbour that sends malformed UPDATEs cannot take the agent's gobgpd down. A Total Path
Attribute Length past the end of the message and a truncated NLRI are answered with a NOTIFICATION (UPDATE
Message Error) that resets only that session; an attribute whose own length overruns the attributes is
treated as a withdraw (RFC 7606) and that session stays up. gobgpd keeps running and the agent's other
session stays Established throughout."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from .harness import ROOT, Lab, bird_sessions, run, same_sessions, wait_for

pytestmark = pytest.mark.lab

BIRD_CONF = """
router id 10.91.0.2;
log stderr all;
protocol device {}
protocol bgp b2 {
  local 10.91.0.2 as 4200000002;
  neighbor 10.91.0.1 as 4200000001;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  ipv4 { import all; export none; };
}
"""
RESET = ("total-attr-length", "truncated-nlri")
KINDS = ("attr-overrun", *RESET)
UPDATE_MESSAGE_ERROR = 3


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    a, b2, m = lab.ns("a"), lab.ns("b2"), lab.ns("m")
    lab.segment("u", {a: "10.91.0.1/24", b2: "10.91.0.2/24", m: "10.91.0.5/24"})
    _, s2 = lab.start_bird("bird2", b2, BIRD_CONF)
    cfg = lab.agent_config(
        "a",
        4200000001,
        "10.91.0.1",
        neighbors=[
            {"name": "b2", "address": "10.91.0.2", "asn": 4200000002, "import": "accept", "export": "accept"},
            {"name": "bad", "address": "10.91.0.5", "asn": 65005, "import": "accept", "export": "accept"},
        ],
    )
    h = lab.start_agent("a", a, cfg)
    assert h.cli("announce", "add", "lan", "--route", "10.72.0.0/24").returncode == 0
    wait_for(lambda: h.established("b2"), 40, "session to b2")
    return {"a": h, "s2": s2, "m": m}


def test_malformed_updates_reset_only_their_session(topo: dict[str, Any]) -> None:
    h, s2, m = topo["a"], topo["s2"], topo["m"]
    gobgpd = h.api("GET", "/v1/status")["gobgpd"]
    sessions = bird_sessions(s2)
    uptime = h.peers()["b2"]["established_at"]
    speaker = [sys.executable, "-m", "tests.lab.bgp_speaker", "10.91.0.1", "65005", "10.91.0.5", *KINDS]
    out = run(["ip", "netns", "exec", m, *speaker], cwd=ROOT, timeout=120).stdout
    results = {r["kind"]: r for r in map(json.loads, out.splitlines())}
    for kind in RESET:
        r = results[kind]
        assert r["established"], r
        assert r["notification"] is not None and r["notification"][0] == UPDATE_MESSAGE_ERROR, r
    overrun = results["attr-overrun"]
    assert overrun["established"] and overrun["notification"] is None and overrun["keepalives"] == 2, overrun
    assert not h.api("GET", "/v1/rib?prefix=10.88.1.0/24"), "the overrunning UPDATE's route was taken"
    after = h.api("GET", "/v1/status")["gobgpd"]
    assert (after["pid"], after["restarts"]) == (gobgpd["pid"], gobgpd["restarts"]), "gobgpd went down"
    assert h.established("b2") and h.peers()["b2"]["established_at"] == uptime
    assert same_sessions(sessions, bird_sessions(s2)), "the session to b2 was reset"
