"""Foundation in the lab: two agents and an independent plain gobgpd peer from config alone;
gobgpd crash recovery; no gobgpd outlives its agent; reload keeps unchanged sessions."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path

import pytest

from .harness import GOBGP, AgentHandle, Lab, gobgp_cli, run, wait_for

pytestmark = pytest.mark.lab

ASN_A, ASN_B, ASN_X = 4200000001, 4200000002, 65000


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, object]:
    a, b, x = lab.ns("a"), lab.ns("b"), lab.ns("x")
    lab.segment("u", {a: "10.99.0.1/24", b: "10.99.0.2/24", x: "10.99.0.3/24"})
    xproc, xsock = lab.start_peer_gobgpd("gobgpd-x", x, ASN_X, "10.99.0.3", {"10.99.0.1": ASN_A, "10.99.0.2": ASN_B})
    neighbors_a = [
        {"name": "b", "address": "10.99.0.2", "asn": ASN_B, "import": "accept", "export": "accept"},
        {"name": "x", "address": "10.99.0.3", "asn": ASN_X, "import": "accept", "export": "accept"},
    ]
    neighbors_b = [
        {"name": "a", "address": "10.99.0.1", "asn": ASN_A, "import": "accept", "export": "accept"},
        {"name": "x", "address": "10.99.0.3", "asn": ASN_X, "import": "accept", "export": "accept"},
    ]
    ha = lab.start_agent("a", a, lab.agent_config("a", ASN_A, "10.99.0.1", neighbors=neighbors_a))
    hb = lab.start_agent("b", b, lab.agent_config("b", ASN_B, "10.99.0.2", neighbors=neighbors_b))
    return {"a": ha, "b": hb, "xsock": xsock, "xproc": xproc}


def x_prefixes(topo: dict[str, object]) -> dict[str, list[str]]:
    rib = gobgp_cli(topo["xsock"], "global", "rib", "-a", "ipv4") or {}  # type: ignore[arg-type]
    return {p: [str(path.get("peer-id")) for path in paths] for p, paths in rib.items()}


def test_sessions_establish_from_config(topo: dict[str, object]) -> None:
    ha, hb = topo["a"], topo["b"]
    assert isinstance(ha, AgentHandle) and isinstance(hb, AgentHandle)
    wait_for(lambda: ha.established("b", "x"), 40, "a: sessions to b and x")
    wait_for(lambda: hb.established("a", "x"), 40, "b: sessions to a and x")
    p = ha.cli("peers", "--json")
    assert p.returncode == 0 and '"established"' in p.stdout


def test_route_reaches_independent_peer(topo: dict[str, object]) -> None:
    ha = topo["a"]
    assert isinstance(ha, AgentHandle)
    assert ha.cli("announce", "add", "lan", "--route", "192.168.50.0/24").returncode == 0
    got = wait_for(lambda: x_prefixes(topo).get("192.168.50.0/24"), 15, "x to learn 192.168.50.0/24")
    assert got is not None and "10.99.0.1" in got


def test_gobgpd_kill9_recovers(topo: dict[str, object]) -> None:
    ha = topo["a"]
    assert isinstance(ha, AgentHandle)
    before = ha.api("GET", "/v1/status")["gobgpd"]
    subprocess.run(["kill", "-9", str(before["pid"])], check=True)
    wait_for(lambda: ha.api("GET", "/v1/status")["gobgpd"]["restarts"] == before["restarts"] + 1, 15, "restart")
    after = ha.api("GET", "/v1/status")["gobgpd"]
    assert after["pid"] != before["pid"]
    # re-configured: sessions back and the route re-announced to the independent peer
    wait_for(lambda: ha.established("b", "x"), 40, "a: sessions back after gobgpd restart")
    wait_for(lambda: x_prefixes(topo).get("192.168.50.0/24"), 20, "route back on x")
    assert ha.proc.alive()


def test_reload_keeps_unchanged_sessions(lab: Lab, topo: dict[str, object]) -> None:
    ha = topo["a"]
    assert isinstance(ha, AgentHandle)
    wait_for(lambda: ha.established("b", "x"), 40, "sessions")
    uptime_b = ha.peers()["b"]["established_at"]
    cfg = dict(ha.config)
    cfg["neighbors"] = [
        *cfg["neighbors"],
        {"name": "y", "address": "10.99.0.9", "asn": 65009, "import": "accept", "export": "accept"},
    ]
    ha.write_config(cfg)
    r = ha.cli("agent", "reload")
    assert r.returncode == 0, r.stderr
    peers = ha.peers()
    assert "y" in peers and peers["b"]["established_at"] == uptime_b
    # an invalid file is refused and the running config stays
    ha.config_path.write_text("machine: {name: a, asn: 0}\n")
    r = ha.cli("agent", "reload")
    assert r.returncode == 2 and "machine.asn" in r.stderr
    assert "y" in ha.peers() and ha.peers()["b"]["established_at"] == uptime_b
    ha.write_config(cfg)


def _gobgpd_children(lab: Lab, ns: str) -> list[str]:
    pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
    names = []
    for pid in pids:
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return [n for n in names if n == "gobgpd"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_no_gobgpd_outlives_the_agent(lab: Lab, topo: dict[str, object], sig: int) -> None:
    hb = topo["b"]
    assert isinstance(hb, AgentHandle)
    assert _gobgpd_children(lab, hb.ns) == ["gobgpd"]
    lab.stop_agent(hb, sig)
    wait_for(lambda: not _gobgpd_children(lab, hb.ns), 10, "gobgpd gone with its agent")
    lab.start_agent("b", hb.ns, hb.config)
    wait_for(lambda: hb.established("a", "x"), 40, "b back")


def test_bad_config_refuses_to_start(lab: Lab) -> None:
    ns = lab.ns("bad")
    h_cfg = lab.agent_config("bad", 0, "10.0.0.1", surprise=True)
    d = lab.base / "bad"
    d.mkdir(exist_ok=True)
    import yaml

    (d / "agent.yaml").write_text(yaml.safe_dump(h_cfg))
    from .harness import DURANTIC

    p = run(["ip", "netns", "exec", ns, DURANTIC, "agent", "run", "-c", str(d / "agent.yaml")], check=False)
    assert p.returncode == 1
    assert "machine.asn: 0" in p.stderr and "surprise: unknown key" in p.stderr
    assert not (d / "run").exists()  # never half-started


def test_adopts_a_configured_gobgpd(lab: Lab, topo: dict[str, object]) -> None:
    """An agent that finds gobgpd already configured on its socket adopts it instead of restarting it."""
    hb = topo["b"]
    assert isinstance(hb, AgentHandle)
    lab.stop_agent(hb)
    run_dir = Path(hb.config["runtime_dir"]) / "gobgpd"
    run_dir.mkdir(parents=True, exist_ok=True)
    sock = run_dir / "gobgpd.sock"
    sock.unlink(missing_ok=True)
    from .harness import GOBGPD

    orphan = lab.spawn("gobgpd-orphan", hb.ns, [GOBGPD, f"--api-hosts=unix://{sock}", "--pprof-disable"])
    wait_for(sock.exists, 10, "orphan gobgpd socket")
    t = f"unix://{sock}"
    run([GOBGP, "--target", t, "global", "as", str(ASN_B), "router-id", "10.99.0.2", "listen-port", "179"])
    lab.start_agent("b", hb.ns, hb.config)
    st = hb.api("GET", "/v1/status")["gobgpd"]
    assert st["pid"] == orphan.popen.pid and st["restarts"] == 0
    wait_for(lambda: hb.established("a", "x"), 40, "b re-peered on the adopted gobgpd")
