"""What an external neighbour (BIRD 2) sees of the agent's gobgpd: an export policy change withdraws a
route learned from another neighbour without resetting the session; a neighbour without graceful restart
gets the agent's routes back after gobgpd is killed and restarted by the agent; a deleted neighbour is
told so with a Cease; and the speaker's reset/disable/enable reach the neighbour as RFC 4486 Ceases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from durantic_agent.core.types import PeerSpec
from durantic_agent.gobgp import speaker
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api

from .harness import Lab, Proc, bird_neighbour, bird_sessions, run, same_sessions, wait_for

pytestmark = pytest.mark.lab

LEARNED = "10.61.0.0/24"  # b3's, re-advertised by the agent to b2
OWN = "10.71.0.0/24"  # the agent's announcement


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout


def has_route(sock: Path, prefix: str) -> bool:
    return prefix in birdc(sock, "show", "route", prefix)


def last_error(sock: Path, proto: str) -> str:
    for line in birdc(sock, "show", "protocols", "all", proto).splitlines():
        if "Last error:" in line:
            return line.split("Last error:", 1)[1].strip()
    return ""


def established(sock: Path, proto: str) -> float | None:
    """When BIRD's session `proto` became Established (None: it is not)."""
    info, since = bird_sessions(sock).get(proto, ("", 0.0))
    return since if info == "Established" else None


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    a, b2, b3 = lab.ns("a"), lab.ns("b2"), lab.ns("b3")
    lab.segment("n", {a: "10.93.0.1/24", b2: "10.93.0.2/24", b3: "10.93.0.3/24"})
    # b2 has no graceful restart at all; b3 is BIRD's default (GR aware) and originates LEARNED
    _, s2 = lab.start_bird("bird2", b2, bird_neighbour("10.93.0", n=2, routes="", extra="graceful restart off;"))
    _, s3 = lab.start_bird("bird3", b3, bird_neighbour("10.93.0", n=3, routes=f"route {LEARNED} blackhole;"))
    cfg = lab.agent_config(
        "a",
        4200000001,
        "10.93.0.1",
        neighbors=[
            {"name": "b2", "address": "10.93.0.2", "asn": 4200000002, "import": "accept", "export": "accept"},
            {"name": "b3", "address": "10.93.0.3", "asn": 4200000003, "import": "accept", "export": "accept"},
        ],
    )
    # a long selection deferral: a neighbour that gets routes back after a restart does not owe it to the timer
    cfg["bgp"]["deferral_time"] = 120
    h = lab.start_agent("a", a, cfg)
    assert h.cli("announce", "add", "lan", "--route", OWN).returncode == 0
    wait_for(lambda: h.established("b2", "b3"), 40, "sessions to both BIRDs")
    wait_for(lambda: has_route(s2, LEARNED) and has_route(s2, OWN), 20, "b2 to learn b3's route and the agent's")
    return {"a": h, "s2": s2, "s3": s3}


def test_export_policy_change_withdraws_a_learned_route(topo: dict[str, Any], tmp_path: Path) -> None:
    h, s2, s3 = topo["a"], topo["s2"], topo["s3"]
    assert "4200000001 4200000003" in birdc(s2, "show", "route", "all", LEARNED)
    sessions = {**bird_sessions(s2), **bird_sessions(s3)}
    uptimes = {n: p["established_at"] for n, p in h.peers().items()}
    policy = {
        "policy_sets": [
            {
                "name": "no-b3",
                "rules": [{"name": "r", "match": {"prefixes": [LEARNED]}, "actions": {"result": "reject"}}],
            }
        ],
        "export_policies": ["no-b3"],
    }
    f = tmp_path / "policy.yaml"
    f.write_text(yaml.safe_dump(policy))
    r = h.cli("apply", "-f", str(f))
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not has_route(s2, LEARNED), 15, "b2 to lose b3's route once the export policy rejects it")
    assert has_route(s2, OWN), "the agent's own route went too"
    assert same_sessions(sessions, {**bird_sessions(s2), **bird_sessions(s3)}), "a BIRD session was reset"
    assert {n: p["established_at"] for n, p in h.peers().items()} == uptimes


def test_neighbour_without_graceful_restart_gets_routes_back_after_a_gobgpd_crash(topo: dict[str, Any]) -> None:
    h, s2 = topo["a"], topo["s2"]
    since = established(s2, "b2")
    assert since is not None and has_route(s2, OWN)
    before = h.api("GET", "/v1/status")["gobgpd"]
    run(["kill", "-9", str(before["pid"])])
    wait_for(lambda: h.api("GET", "/v1/status")["gobgpd"]["restarts"] == before["restarts"] + 1, 15, "restart")
    # b2 has no graceful restart: it dropped the session and the routes; a new session brings them back
    wait_for(lambda: (e := established(s2, "b2")) is not None and e > since + 0.5, 40, "a new session on b2")
    wait_for(lambda: has_route(s2, OWN), 30, "the agent's route back on b2 (well before the deferral timer)")


def test_deleting_a_neighbour_sends_it_a_cease(topo: dict[str, Any]) -> None:
    h, s2 = topo["a"], topo["s2"]
    wait_for(lambda: h.established("b2"), 40, "session to b2")
    cfg = dict(h.config)
    cfg["neighbors"] = [n for n in cfg["neighbors"] if n["name"] != "b2"]
    h.write_config(cfg)
    r = h.cli("agent", "reload")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: last_error(s2, "b2") == "Received: Peer de-configured", 15, "b2 to receive Cease/de-configured")
    assert established(s2, "b2") is None


# ----- the speaker's peer operations, on a plain gobgpd -------------------------------------------------


async def _speaker_ops(sock: Path, s4: Path, bird: Proc) -> None:
    client = GobgpClient(str(sock))
    try:
        await speaker.start_bgp(client, speaker.GlobalSpec(4200000001, "10.93.0.1", 179, ("10.93.0.1",)))
        spec = PeerSpec(name="b4", address="10.93.0.4", asn=4200000004, kind="neighbor", graceful_restart=False)
        await speaker.add_peer(client, spec)

        async def until(pred: Any, what: str, timeout: float = 40.0) -> Any:
            return await asyncio.to_thread(wait_for, pred, timeout, what)

        first = await until(lambda: established(s4, "b4"), "b4 Established")
        sessions = bird_sessions(s4)
        await speaker.reset_peer(client, "10.93.0.4", hard=False)
        peers = await speaker.list_peer_info(client)
        assert peers["10.93.0.4"].state == "established"
        assert same_sessions(sessions, bird_sessions(s4)), "a soft reset tore the session down"

        # gobgpd refuses the peer this long after the hard reset (its own default, 30 s, unless set)
        listed = [r.peer async for r in client.stream("ListPeer", api.ListPeerRequest(address="10.93.0.4"))]
        assert listed[0].timers.config.idle_hold_time_after_reset == spec.connect_retry
        await speaker.reset_peer(client, "10.93.0.4", hard=True)
        await until(lambda: last_error(s4, "b4") == "Received: Administrative reset", "b4 to receive Cease/reset")
        second = await until(lambda: (e := established(s4, "b4")) is not None and e > first + 0.5 and e, "back up")

        await speaker.disable_peer(client, "10.93.0.4", "member down")
        await until(lambda: last_error(s4, "b4").startswith("Received: Administrative shutdown"), "b4 shut down")
        assert "member down" in bird.log(), "the shutdown communication (RFC 8203) did not reach b4"
        assert established(s4, "b4") is None
        assert (await speaker.list_peer_info(client))["10.93.0.4"].state != "established"

        await speaker.enable_peer(client, "10.93.0.4")
        await until(lambda: (e := established(s4, "b4")) is not None and e > second + 0.5, "b4 up after enable")
    finally:
        await client.close()


def test_reset_disable_enable_peer_reach_the_neighbour(lab: Lab) -> None:
    g, b4 = lab.ns("g"), lab.ns("b4")
    lab.segment("s", {g: "10.93.0.1/24", b4: "10.93.0.4/24"})
    _, sock = lab.start_gobgpd("gobgpd-g", g)
    bird, s4 = lab.start_bird("bird4", b4, bird_neighbour("10.93.0", n=4, routes=""))
    asyncio.run(_speaker_ops(sock, s4, bird))
