"""Announcements in the lab: two agents announce one VIP with HTTP checks against real HTTP servers; an
independent gobgpd peered with both follows the health of each origin. Objects survive restarts, a
planned stop withdraws before the sessions close, drain tags then withdraws."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from .harness import ROOT, AgentHandle, Lab, gobgp_cli, run, wait_for

pytestmark = pytest.mark.lab

ASN_A, ASN_B, ASN_X = 4200000001, 4200000002, 65000
VIP = "10.50.0.10/32"


def vip_obj(flag_port: int) -> dict[str, Any]:
    return {
        "announcements": [
            {
                "name": "web",
                "vip": "10.50.0.10",
                "health_check": {
                    "http": {"url": f"http://127.0.0.1:{flag_port}/healthz", "expected_status": "200-399"},
                    "interval": "200ms",
                    "timeout": "100ms",
                    "healthy_threshold": 2,
                    "unhealthy_threshold": 2,
                },
                "communities": ["65000:100"],
            }
        ]
    }


@pytest.fixture(scope="module")
def topo(lab: Lab) -> dict[str, Any]:
    a, b, x = lab.ns("a"), lab.ns("b"), lab.ns("x")
    lab.segment("u", {a: "10.98.0.1/24", b: "10.98.0.2/24", x: "10.98.0.3/24"})
    _, xsock = lab.start_peer_gobgpd("gobgpd-x", x, ASN_X, "10.98.0.3", {"10.98.0.1": ASN_A, "10.98.0.2": ASN_B})
    flags = {}
    for name, ns in (("a", a), ("b", b)):
        flag = lab.base / f"healthy-{name}"
        flag.touch()
        flags[name] = flag
        lab.spawn(f"http-{name}", ns, [sys.executable, str(ROOT / "tests" / "lab" / "healthsrv.py"), "8080", str(flag)])
    handles = {}
    for name, ns, asn, me, other, oasn in (
        ("a", a, ASN_A, "10.98.0.1", "10.98.0.2", ASN_B),
        ("b", b, ASN_B, "10.98.0.2", "10.98.0.1", ASN_A),
    ):
        cfg = lab.agent_config(
            name,
            asn,
            me,
            neighbors=[
                {"name": "x", "address": "10.98.0.3", "asn": ASN_X, "import": "accept", "export": "accept"},
                {"name": "peer", "address": other, "asn": oasn, "import": "accept", "export": "accept"},
            ],
        )
        handles[name] = lab.start_agent(name, ns, cfg)
    for h in handles.values():
        wait_for(partial(AgentHandle.established, h, "x", "peer"), 40, f"{h.name}: sessions")
    return {"a": handles["a"], "b": handles["b"], "xsock": xsock, "flags": flags}


def origin_asn(path: dict[str, Any]) -> int | None:
    for a in path.get("attrs", []):
        if a.get("type") == 2:  # AS_PATH
            asns = [n for seg in a.get("as_paths", []) for n in seg.get("asns", [])]
            return asns[-1] if asns else None
    return None


def x_vip_origins(topo: dict[str, Any]) -> set[str]:
    """Which machines originate the paths x holds for the VIP (a path via a relay still names its origin)."""
    rib = gobgp_cli(topo["xsock"], "global", "rib", "-a", "ipv4") or {}
    names = {ASN_A: "a", ASN_B: "b"}
    return {names.get(origin_asn(p) or 0, "?") for p in rib.get(VIP, [])}


def apply(h: AgentHandle, doc: dict[str, Any], tmp: Path) -> None:
    import yaml

    f = tmp / f"objs-{h.name}.yaml"
    f.write_text(yaml.safe_dump(doc))
    r = h.cli("apply", "-f", str(f))
    assert r.returncode == 0, r.stderr


def test_vip_announced_by_both_after_healthy(topo: dict[str, Any], tmp_path: Path) -> None:
    for h in (topo["a"], topo["b"]):
        apply(h, vip_obj(8080), tmp_path)
    wait_for(lambda: x_vip_origins(topo) == {"a", "b"}, 15, "x sees the VIP from a and b")
    # bound on lo on both machines, whether announced or not
    for h in (topo["a"], topo["b"]):
        out = run(["ip", "-n", h.ns, "-o", "addr", "show", "dev", "lo"]).stdout
        assert "10.50.0.10/32" in out
    rows = {r["name"]: r for r in topo["a"].api("GET", "/v1/checks")}
    assert rows["web"]["state"] == "up" and rows["web"]["passing"]


def test_failover_follows_health(topo: dict[str, Any]) -> None:
    topo["flags"]["a"].unlink()
    wait_for(lambda: x_vip_origins(topo) == {"b"}, 10, "x sees the VIP only via b")
    row = {r["name"]: r for r in topo["a"].api("GET", "/v1/announcements")}["web"]
    assert row["state"] == "down" and not row["announced"] and "503" in row["last_detail"]
    topo["flags"]["a"].touch()
    wait_for(lambda: x_vip_origins(topo) == {"a", "b"}, 10, "a's path back on x")


def test_restart_keeps_objects(lab: Lab, topo: dict[str, Any]) -> None:
    a = topo["a"]
    before = a.cli("get", "-o", "yaml").stdout
    lab.stop_agent(a)
    lab.start_agent("a", a.ns, a.config)
    assert a.cli("get", "-o", "yaml").stdout == before
    wait_for(lambda: x_vip_origins(topo) == {"a", "b"}, 40, "a announces again after restart")


def test_drain_tags_then_withdraws(topo: dict[str, Any]) -> None:
    b = topo["b"]
    r = b.cli("drain", "--grace", "1s")
    assert r.returncode == 0, r.stderr

    def b_path_communities() -> list[Any]:
        rib = gobgp_cli(topo["xsock"], "global", "rib", "-a", "ipv4") or {}
        return [p for p in rib.get(VIP, []) if origin_asn(p) == ASN_B]

    wait_for(lambda: x_vip_origins(topo) == {"a"}, 10, "b withdrawn after the grace period")
    assert b.api("GET", "/v1/status")["drain"] == "withdrawn"
    assert b.cli("undrain").returncode == 0
    wait_for(lambda: x_vip_origins(topo) == {"a", "b"}, 10, "b back after undrain")
    assert not b_path_communities() or all("65535:0" not in str(p.get("attrs")) for p in b_path_communities())


def test_planned_stop_withdraws_before_sessions_close(lab: Lab, topo: dict[str, Any]) -> None:
    """b keeps a's routes as stale across a crash (graceful restart); a planned stop must withdraw first,
    so b's RIB must not keep a's route at all once a is gone."""
    a, b = topo["a"], topo["b"]
    r = a.cli("announce", "add", "lan-a", "--route", "192.168.61.0/24")
    assert r.returncode == 0, r.stderr
    bsock = Path(b.config["runtime_dir"]) / "gobgpd" / "gobgpd.sock"

    def b_has_lan() -> bool:
        rib = gobgp_cli(bsock, "global", "rib", "-a", "ipv4") or {}
        return "192.168.61.0/24" in rib

    wait_for(b_has_lan, 10, "b learns a's route")
    lab.stop_agent(a)
    assert not b_has_lan(), "a's route is still on b after a planned stop (kept stale, not withdrawn)"
    assert x_vip_origins(topo) == {"b"}
    lab.start_agent("a", a.ns, a.config)


def test_bad_input_changes_nothing(topo: dict[str, Any]) -> None:
    a = topo["a"]
    before = a.cli("get", "-o", "yaml").stdout
    cases = [
        (["announce", "add", "x1", "--route", "10.0.0.1/24"], "10.0.0.1/24"),
        (["announce", "add", "x2", "--vip", "10.0.0.1/24", "--check-tcp", "127.0.0.1:1"], "10.0.0.1/24"),
        (["announce", "add", "x3", "--route", "10.9.0.0/24", "--community", "65536:1"], "65536:1"),
        (["announce", "add", "x4", "--route", "10.9.0.0/24", "--med", "4294967296"], "4294967296"),
        (["announce", "add", "x5", "--vip", "10.9.0.1", "--check-exec", "/nonexistent/check"], "/nonexistent/check"),
        (["announce", "add", "x6", "--vip", "10.9.0.1", "--check-http", "ftp://x/"], "ftp://x/"),
        (["announce", "add", "web", "--route", "10.9.0.0/24"], "web"),
    ]
    for args, value in cases:
        r = a.cli(*args)
        err = (r.stdout + r.stderr).strip()
        assert r.returncode == 2, (args, err)
        assert len(err.splitlines()) == 1 and value in err, (args, err)
    assert a.cli("get", "-o", "yaml").stdout == before
