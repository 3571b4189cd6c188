"""Interop with ExaBGP 4.2 as an external neighbour of an agent: the agent takes and shows ExaBGP's routes
(communities, a long AS path, an AS path that does not start with ExaBGP's AS, and one UPDATE carrying
many prefixes with large communities), and ExaBGP receives the agent's announcement and its withdrawal.
What ExaBGP received is its own JSON encoding, written out by its API process."""

from __future__ import annotations

from typing import Any

import pytest

from .exabgp import ExaBgp, announced, start_exabgp, withdrawn
from .harness import AgentHandle, Lab, gobgp_cli, wait_for

pytestmark = pytest.mark.lab

NET = "10.98.0"
AGENT_ASN, EXA_ASN = 4200000001, 4200000002
COMMUNITIES = "10.98.1.0/24"
LONG_PATH = "10.98.2.0/24"
LONG = [EXA_ASN, *range(64512, 64552)]  # ExaBGP sends an AS path as written: its own AS first, 40 behind it
FOREIGN_FIRST = "10.98.3.0/24"  # its AS path does not start with ExaBGP's AS
OWN = "10.98.50.0/24"  # the agent's announcement
MANY = [f"10.99.{i}.0/24" for i in range(200)]  # one UPDATE
LARGE = ["4200000002:1:2", "4200000002:3:4"]


def neighbour() -> str:
    return f"""neighbor {NET}.1 {{
  router-id {NET}.2;
  local-address {NET}.2;
  local-as {EXA_ASN};
  peer-as {AGENT_ASN};
  hold-time 9;
  family {{ ipv4 unicast; }}
  api {{
    processes [ api ];
    neighbor-changes;
    receive {{ parsed; update; }}
  }}
  static {{
    route {COMMUNITIES} next-hop self community [ 65000:100 65000:200 ];
    route {LONG_PATH} next-hop self as-path [ {" ".join(map(str, LONG))} ];
    route {FOREIGN_FIRST} next-hop self as-path [ 64600 ];
{"".join(f"    route {p} next-hop self large-community [ {' '.join(LARGE)} ];{chr(10)}" for p in MANY)}  }}
}}"""


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    a, x = lab.ns("a"), lab.ns("x")
    lab.segment("n", {a: f"{NET}.1/24", x: f"{NET}.2/24"})
    cfg = lab.agent_config(
        "a",
        AGENT_ASN,
        f"{NET}.1",
        neighbors=[{"name": "x", "address": f"{NET}.2", "asn": EXA_ASN, "import": "accept", "export": "own"}],
    )
    h = lab.start_agent("a", a, cfg)
    exa = start_exabgp(lab, "exabgp", x, neighbour())
    wait_for(lambda: h.established("x"), 40, "a: session to ExaBGP")
    wait_for(lambda: exa.state() == "up", 20, "ExaBGP: session up")
    return {"a": h, "exa": exa}


def rib_row(h: AgentHandle, prefix: str) -> dict[str, Any]:
    """The agent's RIB row of `prefix` ({} when it has none)."""
    rows = h.api("GET", f"/v1/rib?prefix={prefix}")
    row: dict[str, Any] = next((r for r in rows if r.get("prefix") == prefix), {})
    return row


def test_the_agent_learns_exabgps_routes_with_their_attributes(topo: dict[str, Any]) -> None:
    h: AgentHandle = topo["a"]
    row = wait_for(lambda: rib_row(h, COMMUNITIES), 20, f"a: {COMMUNITIES}")
    (path,) = row["paths"]
    assert (path["source"], path["next_hop"], path["as_path"]) == ("x", f"{NET}.2", [EXA_ASN]), path
    assert path["communities"] == ["65000:100", "65000:200"], path
    (line,) = [ln for ln in h.cli("rib", COMMUNITIES).stdout.splitlines() if COMMUNITIES in ln]
    assert " x " in line and "65000:100" in line and "65000:200" in line, line
    row = wait_for(lambda: rib_row(h, LONG_PATH), 20, f"a: {LONG_PATH}")
    assert row["paths"][0]["as_path"] == LONG, row
    out = h.cli("rib", LONG_PATH, "--all").stdout
    assert " ".join(map(str, LONG)) in out, out


def test_an_as_path_that_does_not_start_with_the_neighbours_as_is_taken_as_sent(topo: dict[str, Any]) -> None:
    """gobgpd has no first-AS check (docs/gobgp.md): an AS-path rule sees what the neighbour wrote."""
    h: AgentHandle = topo["a"]
    row = wait_for(lambda: rib_row(h, FOREIGN_FIRST), 20, f"a: {FOREIGN_FIRST}")
    (path,) = row["paths"]
    assert (path["source"], path["source_asn"], path["as_path"]) == ("x", EXA_ASN, [64600]), path


def test_exabgp_receives_the_agents_announcement_and_its_withdrawal(topo: dict[str, Any]) -> None:
    h: AgentHandle = topo["a"]
    exa: ExaBgp = topo["exa"]
    assert h.cli("announce", "add", "own", "--route", OWN, "--community", "65000:7").returncode == 0

    def received() -> dict[str, Any]:
        return next((u for u in exa.updates() if OWN in announced(u)), {})

    update = wait_for(received, 20, f"ExaBGP: an UPDATE announcing {OWN}")
    assert update["attribute"]["as-path"] == [AGENT_ASN], update
    assert update["attribute"]["community"] == [[65000, 7]], update
    assert list(update["announce"]["ipv4 unicast"]) == [f"{NET}.1"], update  # next hop: the agent
    assert h.cli("announce", "delete", "own").returncode == 0
    wait_for(lambda: any(OWN in withdrawn(u) for u in exa.updates()), 20, "ExaBGP: OWN withdrawn")


def updates_received(h: AgentHandle) -> int:
    """UPDATE messages the agent's gobgpd has received from ExaBGP (the gobgp CLI on its socket)."""
    peer = gobgp_cli(h.dir / "run" / "gobgpd" / "gobgpd.sock", "neighbor", f"{NET}.2")
    return int(peer["state"]["messages"]["received"]["update"])


def test_one_update_with_many_prefixes_and_large_communities(topo: dict[str, Any]) -> None:
    h: AgentHandle = topo["a"]
    exa: ExaBgp = topo["exa"]

    def learned() -> list[dict[str, Any]]:
        rows = h.api("GET", "/v1/rib?prefix=10.99.0.0/16&longer=1")
        return rows if len(rows) == len(MANY) else []

    rows = wait_for(learned, 20, f"a: all {len(MANY)} prefixes")
    assert {r["prefix"] for r in rows} == set(MANY)
    assert all(r["paths"][0]["large_communities"] == LARGE for r in rows), rows[0]
    # ExaBGP sends the static routes that share their attributes in one UPDATE: four sets, then End-of-RIB
    assert updates_received(h) == 5, "the prefixes did not come in one UPDATE"
    exa.send(f"withdraw attributes next-hop {NET}.2 nlri {' '.join(MANY)}")
    wait_for(lambda: h.api("GET", "/v1/rib?prefix=10.99.0.0/16&longer=1") == [], 20, "a: every prefix withdrawn")
    assert h.established("x")
    assert rib_row(h, COMMUNITIES), "a route outside the withdrawal went too"
