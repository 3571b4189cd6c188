"""Agent kill -9 and restart on a live machine that is the only origin of a route, on kernel WireGuard
(in the test VM): the interface, its peers, the kernel routes and the address on lo are kernel state and
outlive the agent, the member's kernel keeps answering liveness probes, and graceful restart keeps its
route at the other members while its gobgpd (which dies with the agent) is gone. So a member pinging
behind it every 20 ms loses at most 2 packets; so does the restarting machine itself, pinging behind
that member (the restarted agent keeps the kernel routes and AllowedIPs it finds until its BGP has
restarted). Once restarted with the same config, runtime_dir and state_dir it is converged again:
sessions Established, its route fresh (not stale) at the member, nothing judged down.

With userspace WireGuard the same kill stops wireguard-go (parent-death signal): the restart is a short
death (docs/liveness.md, "Graceful-restart time")."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .backends import require_backend
from .harness import AgentHandle, Lab, run, wait_for
from .mesh import Machine, keygen, mesh_config, wg_allowed, write_members
from .pace import scaled
from .test_transit import Pinger, report

pytestmark = [pytest.mark.lab, pytest.mark.wg_kernel]

LAN_A = "192.168.78.0/24"
LAN_A_HOST = "192.168.78.1"
LAN_B = "192.168.79.0/24"
LAN_B_HOST = "192.168.79.1"


@pytest.fixture(scope="module")
def mesh(lab: Lab) -> dict[str, Any]:
    require_backend("kernel")
    ms = [
        Machine("a", lab.ns("a"), "10.97.0.1", "100.64.0.1", 4200000001),
        Machine("b", lab.ns("b"), "10.97.0.2", "100.64.0.2", 4200000002),
    ]
    lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms})
    for m in ms:
        keygen(lab, m)
    mf = write_members(lab, "m", ms)
    agents = {}
    for m in ms:
        cfg = lab.agent_config(m.name, m.asn, m.mesh_addr, meshes=[mesh_config(lab, m, "m", 24, mf)])
        cfg["wireguard"] = {"backend": "kernel"}
        # restart_time must cover the slowest restart (docs/liveness.md); an emulated VM is that much slower
        cfg["bgp"]["restart_time"] = min(4095, round(scaled(40)))
        agents[m.name] = lab.start_agent(m.name, m.ns, cfg, wait=False)
    for h in agents.values():  # started side by side: an emulated interpreter start is slow
        lab.wait_agent(h)
    a, b = agents["a"], agents["b"]
    wait_for(lambda: a.established("b") and b.established("a"), 60, "the a-b session")
    for h, lan, host in ((a, LAN_A, LAN_A_HOST), (b, LAN_B, LAN_B_HOST)):
        lab.sh(h.ns, f"ip addr add {host}/32 dev lo")
        assert h.cli("announce", "add", "lan", "--route", lan).returncode == 0
    return {"machines": {m.name: m for m in ms}, "agents": agents}


def lan_path(h: AgentHandle, lan: str = LAN_B) -> tuple[str, bool] | None:
    """(next hop, stale) of h's best path to `lan`."""
    rows = h.api("GET", f"/v1/rib?prefix={lan}")
    paths = [p for p in rows[0]["paths"] if p["best"]] if rows else []
    return (str(paths[0]["next_hop"]), bool(paths[0]["stale"])) if paths else None


def gone(pid: int) -> bool:
    """No such process, or only its zombie (the guest's init may reap late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_agent_kill9_and_restart_on_the_only_origin_loses_at_most_2_packets(lab: Lab, mesh: dict[str, Any]) -> None:
    a, b = mesh["agents"]["a"], mesh["agents"]["b"]
    b_key = mesh["machines"]["b"].pubkey
    wait_for(lambda: lan_path(a) == ("100.64.0.2", False), 30, "a: b's LAN via b, fresh")
    wait_for(lambda: LAN_B in wg_allowed(a)[b_key], 15, "b's LAN in a's AllowedIPs for b")
    wait_for(lambda: lan_path(b, LAN_A) == ("100.64.0.1", False), 30, "b: a's LAN via a, fresh")
    wait_for(lambda: lab.sh(a.ns, f"ping -c1 -W1 {LAN_B_HOST}", check=False).returncode == 0, 20, "a pings b's LAN")
    wait_for(lambda: lab.sh(b.ns, f"ping -c1 -W1 {LAN_A_HOST}", check=False).returncode == 0, 20, "b pings a's LAN")
    wait_for(lambda: a.peers()["b"]["liveness"]["state"] == "up", 30, "a: b's data plane up")
    transitions = a.peers()["b"]["liveness"]["transitions"]
    gobgpd = b.api("GET", "/v1/status")["gobgpd"]["pid"]
    agent_pid = b.proc.popen.pid

    b_routes = run(["ip", "-n", b.ns, "route", "show", "proto", "bgp"]).stdout
    assert LAN_A in b_routes
    pinger, back = Pinger(a.ns, LAN_B_HOST), Pinger(b.ns, LAN_A_HOST)
    time.sleep(0.5)  # the pinger is running before the kill
    t0 = time.monotonic()
    os.kill(agent_pid, signal.SIGKILL)  # the agent's PID only: its gobgpd goes by the parent-death signal
    b.proc.popen.wait(scaled(10))
    wait_for(lambda: gone(gobgpd), 10, "b's gobgpd gone with its agent")
    wait_for(lambda: lan_path(a) == ("100.64.0.2", True), 30, "a: b's LAN kept stale (graceful restart)")
    lab.start_agent("b", b.ns, b.config)
    assert b.proc.popen.pid != agent_pid
    wait_for(lambda: a.established("b") and b.established("a"), 60, "the a-b session back")
    wait_for(lambda: lan_path(a) == ("100.64.0.2", False), 60, "a: b's LAN fresh again")
    took = time.monotonic() - t0
    wait_for(lambda: lan_path(b, LAN_A) == ("100.64.0.1", False), 60, "b: a's LAN learned again")
    time.sleep(0.5)  # replies to the last pings before the count
    sent, received = pinger.stop()
    report(f"b's agent kill -9 + restart (b the only origin, fresh again after {took:.1f} s)", sent, received)
    sent_back, received_back = back.stop()
    report("  b itself pinging a's LAN meanwhile", sent_back, received_back)
    assert sent - received <= 2
    assert sent_back - received_back <= 2
    assert LAN_B in wg_allowed(a)[b_key]
    assert a.peers()["b"]["liveness"]["transitions"] == transitions  # b's data plane never went away
    assert a.peers()["b"]["liveness"]["state"] == "up"
    wait_for(lambda: run(["ip", "-n", b.ns, "route", "show", "proto", "bgp"]).stdout == b_routes, 15, "b's routes")
    reconcile = b.api("GET", "/v1/status")["reconcile"]
    assert all(r["ok"] for r in reconcile.values()), reconcile
    # the restart is over: a route withdrawn now leaves b's kernel and AllowedIPs at once, as before it
    assert a.cli("announce", "delete", "lan").returncode == 0
    wait_for(lambda: LAN_A not in run(["ip", "-n", b.ns, "route", "show", "proto", "bgp"]).stdout, 15, "withdrawn")
    wait_for(lambda: LAN_A not in wg_allowed(b)[mesh["machines"]["a"].pubkey], 15, "out of b's AllowedIPs for a")
