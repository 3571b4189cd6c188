"""Policies through the agent's own surface (`durantic apply -f`), against two BIRD 2 peers: an export
policy shapes what BIRD receives, an import policy changes the agent's best path, a reject rule keeps a
prefix out, and none of it resets a session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import AgentHandle, Lab, bird_sessions, run, same_sessions, wait_for

pytestmark = pytest.mark.lab

BIRD_CONF = """
router id 10.94.0.{n};
log stderr all;
protocol device {{}}
protocol static s1 {{ ipv4; route 10.60.0.0/24 blackhole; }}
protocol bgp b{n} {{
  local 10.94.0.{n} as 420000000{n};
  neighbor 10.94.0.1 as 4200000001;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  ipv4 {{ import all; export filter {{ if proto != "s1" then reject; {tag} accept; }}; }};
}}
"""

POLICY = {
    "policy_sets": [
        {
            "name": "to-bird",
            "rules": [
                {"name": "drop", "match": {"prefixes": ["10.70.9.0/24"]}, "actions": {"result": "reject"}},
                {
                    "name": "shape",
                    "match": {"prefixes": ["10.70.0.0/16 le 32"]},
                    "actions": {
                        "as_prepend": {"asn": "self", "repeat": 2},
                        "med": 50,
                        "communities": {"add": ["65000:200"]},
                        "result": "accept",
                    },
                },
            ],
        },
        {
            "name": "prefer-tagged",
            "rules": [
                {"name": "tagged", "match": {"communities": ["65000:100"]}, "actions": {"local_pref": 200}},
            ],
        },
    ],
    "import_policies": ["prefer-tagged"],
    "export_policies": ["to-bird"],
}


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    a, b2, b3 = lab.ns("a"), lab.ns("b2"), lab.ns("b3")
    lab.segment("u", {a: "10.94.0.1/24", b2: "10.94.0.2/24", b3: "10.94.0.3/24"})
    _, s2 = lab.start_bird("bird2", b2, BIRD_CONF.format(n=2, tag=""))
    _, s3 = lab.start_bird("bird3", b3, BIRD_CONF.format(n=3, tag="bgp_community.add((65000,100));"))
    cfg = lab.agent_config(
        "a",
        4200000001,
        "10.94.0.1",
        neighbors=[
            {"name": "b2", "address": "10.94.0.2", "asn": 4200000002, "import": "accept", "export": "accept"},
            {"name": "b3", "address": "10.94.0.3", "asn": 4200000003, "import": "accept", "export": "accept"},
        ],
    )
    h = lab.start_agent("a", a, cfg)
    for name, prefix in (("lan", "10.70.0.0/24"), ("lab", "10.70.9.0/24")):
        assert h.cli("announce", "add", name, "--route", prefix).returncode == 0
    wait_for(lambda: h.established("b2", "b3"), 40, "sessions to both BIRDs")
    return {"a": h, "s2": s2, "s3": s3}


def rib(h: AgentHandle, prefix: str) -> list[dict[str, Any]]:
    rows = h.api("GET", f"/v1/rib?prefix={prefix}")
    return rows[0]["paths"] if rows else []


def test_policies_on_live_sessions(lab: Lab, topo: dict[str, Any], tmp_path: Path) -> None:
    h, s2 = topo["a"], topo["s2"]
    wait_for(lambda: len(rib(h, "10.60.0.0/24")) == 2, 20, "both BIRD paths in the agent's RIB")
    wait_for(lambda: "10.70.9.0/24" in birdc(s2, "show", "route", "10.70.9.0/24"), 20, "BIRD has 10.70.9.0/24")
    plain = birdc(s2, "show", "route", "all", "10.70.0.0/24")
    assert "BGP.as_path: 4200000001\n" in plain
    uptimes = {n: p["established_at"] for n, p in h.peers().items()}
    since = bird_sessions(s2)

    f = tmp_path / "policy.yaml"
    f.write_text(yaml.safe_dump(POLICY))
    r = h.cli("apply", "-f", str(f))
    assert r.returncode == 0, r.stderr

    def shaped() -> bool:
        out = birdc(s2, "show", "route", "all", "10.70.0.0/24")
        return "BGP.as_path: 4200000001 4200000001 4200000001" in out and "BGP.med: 50" in out and "(65000,200)" in out

    wait_for(shaped, 15, "BIRD sees the prepended AS path, MED 50 and community 65000:200")
    wait_for(lambda: "10.70.9.0/24" not in birdc(s2, "show", "route", "10.70.9.0/24"), 15, "reject keeps it out")

    def b3_best() -> bool:
        paths = rib(h, "10.60.0.0/24")
        return bool(paths) and paths[0]["source"] == "b3" and paths[0]["local_pref"] == 200

    wait_for(b3_best, 15, "the import policy makes the tagged path (from b3) best")
    rows = h.api("GET", "/v1/rib?prefix=10.60.0.0/24")
    assert rows[0]["explain"][0]["rule"] == "local_pref", rows[0]["explain"]
    r = h.cli("rib", "10.60.0.0/24", "--explain")
    assert r.returncode == 0 and "LOCAL_PREF 200 > 100" in r.stdout, r.stdout

    # no session was reset by any of it
    assert {n: p["established_at"] for n, p in h.peers().items()} == uptimes
    assert same_sessions(since, bird_sessions(s2)), (since, bird_sessions(s2))
    # deleting an assigned set is refused, naming where it is used
    r = h.cli("policy", "delete", "to-bird")
    assert r.returncode == 2 and "export_policies[0]" in r.stderr
    t = h.cli("policy", "test", "to-bird", "--prefix", "10.70.0.0/24")
    assert t.returncode == 0 and "shape" in t.stdout
