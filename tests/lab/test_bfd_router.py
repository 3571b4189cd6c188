"""BFD towards an external router: a BIRD 2 router learns a VIP from agents a and b with `bfd on`. The
origin it uses is powered off (link cut and every process in its namespace SIGKILLed at once): BIRD
moves the VIP to the other origin on BFD's verdict, long before the (deliberately long) hold time."""

from __future__ import annotations

from typing import Any

import pytest

from .bfd_router import HOLD, ROUTER, BfdRouter, best_origin, build, last_error, wait_ready
from .harness import Lab, wait_for
from .test_liveness import power_off

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def topo(lab: Lab) -> BfdRouter:
    t = build(lab)
    wait_ready(t)
    return t


def test_peers_and_status_show_the_bfd_state(topo: BfdRouter) -> None:
    a = topo.agents["ra"]
    assert a.peers()["r"]["liveness"] == {"via": "bfd", "state": "up"}
    out = a.cli("peers").stdout
    assert any(line.startswith("r ") and line.rstrip().endswith("bfd up") for line in out.splitlines()), out
    st: dict[str, Any] = a.api("GET", "/v1/status")
    assert [p["liveness"]["state"] for p in st["peers"] if p["address"] == ROUTER] == ["up"]


def test_power_off_moves_the_vip_at_the_router_on_bfd(lab: Lab, topo: BfdRouter) -> None:
    dead = str(wait_for(lambda: best_origin(topo.sock), 30, "router: a best path for the VIP"))
    other = "rb" if dead == "ra" else "ra"
    h = topo.agents[dead]
    power_off(lab, h, topo.links[h.ns])
    # the hold time is HOLD s and BIRD is GR-aware: only BFD can move it inside that
    wait_for(lambda: best_origin(topo.sock) == other, HOLD / 3, f"router: VIP via {other}")
    assert "BFD session down" in last_error(topo.sock, dead)
    assert topo.agents[other].peers()["r"]["liveness"]["state"] == "up"
