"""Golden tests of what an operator reads: every table, every `apply` / `diff` line, every error and the
shape of every --json answer, produced by the real CLI against a real agent whose RIB holds paths from
two independent gobgpd speakers. Ages, pids and latencies are masked; the rest must match the files in
tests/golden/cli/ exactly (DURANTIC_UPDATE_GOLDEN=1 rewrites them after a deliberate change).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import yaml

from .harness import ROOT, AgentHandle, Lab, run, wait_for

pytestmark = pytest.mark.lab

GOLDEN = ROOT / "tests" / "golden" / "cli"
UPDATE = os.environ.get("DURANTIC_UPDATE_GOLDEN") == "1"
ASN_A, ASN_X, ASN_Y = 4200000001, 65001, 65002

OBJECTS: dict[str, Any] = {
    "announcements": [
        {
            "name": "web",
            "vip": "10.50.0.10",
            "health_check": {"exec": {"command": ["/usr/bin/true"]}, "interval": "200ms", "healthy_threshold": 1},
            "communities": ["65000:100"],
        },
        {"name": "lan", "route": "192.168.61.0/24", "med": 10},
        {"name": "spare", "route": "192.168.62.0/24", "enabled": False},
    ],
    "policy_sets": [
        {
            "name": "prefer-x",
            "rules": [
                {"name": "from-x", "match": {"as_path": "^65001_"}, "actions": {"local_pref": 200, "result": "accept"}}
            ],
        }
    ],
    "import_policies": ["prefer-x"],
}
# what the operator changes next: lan's MED, a new route, spare and the policy left out (pruned)
CHANGED: dict[str, Any] = {
    "announcements": [
        OBJECTS["announcements"][0],
        {"name": "lan", "route": "192.168.61.0/24", "med": 20},
        {"name": "office", "route": "192.168.63.0/24"},
    ]
}
BAD: dict[str, Any] = {
    "announcements": [
        {"name": "web", "vip": "10.0.0.300", "health_check": {"tcp": {"host": "127.0.0.1", "port": 80}}},
        {"name": "lan", "route": "192.168.61.1/24", "med": -1},
        {"name": "web", "route": "10.1.0.0/24"},
        {"name": "bad name", "route": "10.2.0.0/24", "colour": "red"},
    ]
}


def _mask(text: str, lab: Lab) -> str:
    text = text.replace(str(lab.base), "<lab>")
    text = re.sub(r"(?<!')\b(\d+d\d\dh|\d+h\d\dm|\d+m\d\ds|\d+s)\b", "<age>", text)
    text = re.sub(r"\b\d+\.\dms\b", "<ms>", text)
    text = re.sub(r"\bpid \d+", "pid <n>", text)
    # columns are as wide as their widest cell, and masked cells change widths: compare cells, not spaces
    return "\n".join(re.sub(r"(?<=\S) {2,}", "  ", line).rstrip() for line in text.splitlines()) + "\n"


def _shape(v: Any) -> Any:
    """The JSON's keys and value types (lists by the union of their items' shapes)."""
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        shapes: list[Any] = []
        for x in v:
            if (s := _shape(x)) not in shapes:
                shapes.append(s)
        return shapes
    return {bool: "bool", int: "number", float: "number", str: "string", type(None): "null"}[type(v)]


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run with DURANTIC_UPDATE_GOLDEN=1 once and review it"
    want = path.read_text()
    if actual != want:
        import difflib

        delta = "".join(difflib.unified_diff(want.splitlines(True), actual.splitlines(True), "golden", "actual"))
        raise AssertionError(f"{name} differs from the golden file:\n{delta}")


@pytest.fixture(scope="module")
def agent(lab: Lab) -> AgentHandle:
    a, x, y = lab.ns("a"), lab.ns("x"), lab.ns("y")
    lab.segment("u", {a: "10.97.0.1/24", x: "10.97.0.2/24", y: "10.97.0.3/24"})
    speakers = {}
    for name, ns, asn, addr in (("x", x, ASN_X, "10.97.0.2"), ("y", y, ASN_Y, "10.97.0.3")):
        _, sock = lab.start_peer_gobgpd(f"gobgpd-{name}", ns, asn, addr, {"10.97.0.1": ASN_A})
        speakers[name] = sock
    neighbors = [
        {"name": "x", "address": "10.97.0.2", "asn": ASN_X, "import": "accept", "export": "accept"},
        {"name": "y", "address": "10.97.0.3", "asn": ASN_Y, "import": "accept", "export": "accept"},
    ]
    h = lab.start_agent("a", a, lab.agent_config("a", ASN_A, "10.97.0.1", neighbors=neighbors))
    wait_for(lambda: h.established("x", "y"), 40, "a: sessions to x and y")
    from .harness import GOBGP

    for name, prefixes in (("x", ["10.60.0.0/24", "10.60.1.0/24"]), ("y", ["10.60.0.0/24"])):
        for p in prefixes:
            run([GOBGP, "--target", f"unix://{speakers[name]}", "global", "rib", "add", "-a", "ipv4", p])
    return h


def _file(lab: Lab, name: str, doc: dict[str, Any]) -> str:
    f = lab.base / name
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(f)


def _out(lab: Lab, h: AgentHandle, *args: str, code: int = 0) -> str:
    r = h.cli(*args)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    return _mask(r.stdout + r.stderr, lab)


def test_apply_dry_run_diff_and_errors(lab: Lab, agent: AgentHandle) -> None:
    h = agent
    objs, changed, bad = (
        _file(lab, "objects.yaml", OBJECTS),
        _file(lab, "changed.yaml", CHANGED),
        _file(lab, "bad.yaml", BAD),
    )
    text = "$ durantic apply -f objects.yaml\n" + _out(lab, h, "apply", "-f", objs)
    text += "$ durantic apply -f objects.yaml\n" + _out(lab, h, "apply", "-f", objs)
    before = h.cli("get", "-o", "yaml").stdout
    text += "$ durantic diff --prune -f changed.yaml\n" + _out(lab, h, "diff", "--prune", "-f", changed)
    text += "$ durantic apply --dry-run --prune -f changed.yaml\n" + _out(
        lab, h, "apply", "--dry-run", "--prune", "-f", changed
    )
    assert h.cli("get", "-o", "yaml").stdout == before, "a dry run or a diff changed the objects"
    text += "$ durantic apply -f bad.yaml   # exit 2, every error, nothing changed\n"
    text += _out(lab, h, "apply", "-f", bad, code=2)
    assert h.cli("get", "-o", "yaml").stdout == before
    for args in (
        ("announce", "add", "web 1", "--route", "10.3.0.0/24"),
        ("announce", "show", "X_bad/name"),
        ("announce", "add", "x1", "--route", "10.3.0.1/24"),
        ("announce", "add", "x2", "--vip", "10.3.0.1", "--check-tcp", "127.0.0.1:1", "--interval", "fast"),
        ("announce", "add", "x3", "--route", "10.3.0.0/24", "--med", "many"),
        ("announce", "show", "nosuch"),
        ("rib", "10.60.0.300"),
    ):
        text += f"$ durantic {' '.join(args)}   # exit 2\n" + _out(lab, h, *args, code=2)
    _check("apply.txt", text)
    wait_for(lambda: h.api("GET", "/v1/announcements/web")["announced"], 20, "web announced")


def _objects(h: AgentHandle) -> None:
    """OBJECTS applied (test_apply does it through the CLI; alone, a test applies them itself)."""
    h.api("POST", "/v1/apply", OBJECTS)


def test_tables(lab: Lab, agent: AgentHandle) -> None:
    h = agent
    _objects(h)
    wait_for(lambda: len(h.api("GET", "/v1/rib?prefix=10.60.0.0/24")[0]["paths"]) == 2, 20, "a: two paths to 10.60/24")
    wait_for(lambda: h.api("GET", "/v1/announcements/web")["announced"], 20, "web announced")
    wait_for(
        lambda: (h.peers()["x"]["advertised"], h.peers()["y"]["advertised"]) == (2, 4),
        20,
        "x: lan, web; y: those and x's",
    )
    text = ""
    for args in (
        ("rib",),
        ("rib", "--all"),
        ("rib", "--explain"),
        ("rib", "10.60.0.0/24", "--explain"),
        ("rib", "--longer", "10.60.0.0/16"),
        ("rib", "10.99.0.0/24"),
        ("peers",),
        ("announce", "list"),
        ("announce", "show", "web"),
        ("checks",),
        ("policy", "list"),
        ("policy", "test", "prefer-x", "--prefix", "10.60.0.0/24", "--as-path", "65001"),
        ("status",),
    ):
        text += f"$ durantic {' '.join(args)}\n" + _out(lab, h, *args)
    _check("tables.txt", text)


def test_json_shapes(lab: Lab, agent: AgentHandle) -> None:
    h = agent
    _objects(h)
    shapes = {}
    for args in (
        ("status",),
        ("peers",),
        ("rib", "10.60.0.0/24"),
        ("checks",),
        ("announce", "list"),
        ("announce", "show", "web"),
        ("policy", "list"),
    ):
        r = h.cli(*args, "--json")
        assert r.returncode == 0, r.stderr
        shapes[" ".join(args)] = _shape(json.loads(r.stdout))
    shapes["POST /v1/apply?dry_run=1"] = _shape(h.api("POST", "/v1/apply?dry_run=1", OBJECTS))
    _check("json-shapes.json", json.dumps(shapes, indent=1) + "\n")
    # times are RFC 3339, durations are numbers of seconds
    st = json.loads(h.cli("status", "--json").stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", st["started_at"]) and st["uptime_seconds"] > 0
    peer = json.loads(h.cli("peers", "--json").stdout)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", peer["established_at"])


def test_version_and_socket_after_the_subcommand(lab: Lab, agent: AgentHandle) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURANTIC_SOCKET"}
    from .harness import DURANTIC

    v = run([DURANTIC, "--version"], env=env)
    assert re.fullmatch(r"durantic \S+ \(gobgpd \S+\)\n", v.stdout), v.stdout
    p = run(["ip", "netns", "exec", agent.ns, DURANTIC, "peers", "--socket", str(agent.socket)], env=env)
    assert "established" in p.stdout
    p = run(["ip", "netns", "exec", agent.ns, DURANTIC, "--socket", str(agent.socket), "peers"], env=env)
    assert "established" in p.stdout
    p = run([DURANTIC, "peers", "--socket", str(lab.base / "nothing.sock")], env=env, check=False)
    assert (
        p.returncode == 1
        and p.stderr == f"durantic: cannot reach the agent at {lab.base}/nothing.sock: No such file or directory\n"
    )


def _metrics(h: AgentHandle) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    with h.client() as c:
        text = c.get("/metrics").text
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_names(agent: AgentHandle) -> None:
    """Prometheus conventions: units in the name, counters as _total, every series there from the start."""
    h = agent
    _objects(h)
    wait_for(lambda: h.api("GET", "/v1/announcements/web")["announced"], 20, "web announced")
    fams = _metrics(h)
    expected = {
        "durantic_build_info": "gauge",
        "durantic_peer_up": "gauge",
        "durantic_peer_prefixes_received": "gauge",
        "durantic_peer_prefixes_accepted": "gauge",
        "durantic_peer_prefixes_advertised": "gauge",
        "durantic_wireguard_handshake_age_seconds": "gauge",
        "durantic_check_last_probe_duration_seconds": "gauge",
        "durantic_check_probe_seconds": "histogram",
        "durantic_check_probes": "counter",
        "durantic_check_state": "gauge",
        "durantic_check_transitions": "counter",
        "durantic_announcement_announced": "gauge",
        "durantic_announcement_changes": "counter",
        "durantic_reconcile_errors": "counter",
        "durantic_reconcile_seconds": "histogram",
        "durantic_transit_switches": "counter",
        "durantic_gobgpd_restarts": "counter",
    }
    for name, kind in expected.items():
        assert name in fams and fams[name].type == kind, (name, fams.get(name))
    ours = {n: f for n, f in fams.items() if n.startswith("durantic_")}
    for name, fam in ours.items():
        assert re.fullmatch(r"durantic_[a-z0-9_]+", name), name
        assert not name.endswith("_total"), f"{name}: the client adds _total to counter samples"
        if fam.type == "histogram":
            assert name.endswith("_seconds"), name

    def sample(family: str, **labels: str) -> float | None:
        for s in fams[family.removesuffix("_total")].samples:
            if all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        return None

    assert sample("durantic_build_info", gobgpd_version=h.api("GET", "/v1/status")["gobgpd"]["version"]) == 1
    assert sample("durantic_peer_up", peer="x") == 1 and sample("durantic_peer_up", peer="y") == 1
    assert sample("durantic_peer_prefixes_received", peer="x") == 2
    assert sample("durantic_peer_prefixes_advertised", peer="x") == 2  # lan and web (not x's own routes back)
    # present from the start: the disabled announcement at 0, its counters and every reconciler's at 0
    assert sample("durantic_announcement_announced", name="spare") == 0
    assert sample("durantic_announcement_changes_total", name="spare", action="announced") == 0
    assert sample("durantic_reconcile_errors_total", reconciler="wireguard") == 0
    assert sample("durantic_check_transitions_total", check="web", to="down") == 0
    assert sample("durantic_check_last_probe_duration_seconds", check="web") is not None
