"""Bad mesh input on a running agent: `durantic agent reload` refuses it with exit 2 and one line naming the
field path and value, the running peers and WireGuard stay exactly as they were, and `durantic config check`
on the same files exits 1 naming the same path."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import AgentHandle, Lab, wait_for
from .mesh import Machine, members_doc, start_mesh, wg_allowed

pytestmark = pytest.mark.lab

Members = list[dict[str, Any]]


@pytest.fixture(scope="module")
def mesh(lab: Lab) -> dict[str, Any]:
    ms = [
        Machine("a", lab.ns("a"), "10.93.0.1", "100.64.0.1", 4200000001),
        Machine("b", lab.ns("b"), "10.93.0.2", "100.64.0.2", 4200000002),
    ]
    lab.segment("u", {m.ns: f"{m.underlay}/24" for m in ms})
    agents = start_mesh(lab, ms)
    wait_for(lambda: agents["a"].established("b"), 45, "a: session to b")
    a = agents["a"]
    members_file = Path(a.config["meshes"][0]["members_file"])
    return {"a": a, "file": members_file, "good": members_doc(ms)["members"]}


def seen(h: AgentHandle) -> dict[str, Any]:
    """What an operator sees in `durantic peers` and on the WireGuard device, minus what moves by itself:
    the counters, and the path type (Direct / Silent), a live measurement of keepalives that a loaded
    machine delays."""
    peers = {
        p["name"]: (p["address"], p["asn"], p["state"], p["established_at"], p["wg_endpoint"])
        for p in h.api("GET", "/v1/peers")
    }
    return {"peers": peers, "wireguard": wg_allowed(h)}


def with_b(**change: Any) -> Callable[[Members], Any]:
    return lambda good: {"members": [good[0], {**good[1], **change}]}


SHORT_KEY = base64.b64encode(bytes(31)).decode()

# (id, members file content (a YAML text, a document built from the good members, or None = no file),
#  the one line the user must see, after `<config path>: ` for config check)
CASES: list[tuple[str, Any, str]] = [
    (
        "key-not-base64",
        with_b(public_key="not a key!"),
        "meshes[0].members[1].public_key: 'not a key!' is not a WireGuard key (32 bytes, base64)",
    ),
    (
        "key-31-bytes",
        with_b(public_key=SHORT_KEY),
        f"meshes[0].members[1].public_key: '{SHORT_KEY}' is not a WireGuard key (32 bytes, base64)",
    ),
    ("duplicate-name", with_b(name="a"), "meshes[0].members[1].name: 'a' duplicates"),
    (
        "duplicate-key",
        lambda good: {"members": [good[0], {**good[1], "public_key": good[0]["public_key"]}]},
        "meshes[0].members[1].public_key: '{key_a}' duplicates",
    ),
    (
        "address-outside-mesh",
        with_b(address="100.65.0.2"),
        "meshes[0].members[1].address: '100.65.0.2' is outside the mesh prefix 100.64.0.0/24",
    ),
    ("endpoint-no-port", with_b(endpoint="10.93.0.2"), "meshes[0].members[1].endpoint: '10.93.0.2' is not host:port"),
    ("endpoint-garbage", with_b(endpoint="b:port"), "meshes[0].members[1].endpoint: 'b:port' is not host:port"),
    ("file-missing", None, "meshes[0].members_file: '{file}' does not exist"),
    ("file-not-yaml", "members: [{name: b, asn: 4200000002\n", "meshes[0].members_file: '{file}' is not valid YAML"),
    (
        "file-not-members",
        "- just\n- a list\n",
        "meshes[0].members_file: '{file}' must be a mapping of `members` (and `route_servers`)",
    ),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reload_refuses_bad_mesh_input(mesh: dict[str, Any], content: Any, expected: str) -> None:
    a: AgentHandle = mesh["a"]
    f: Path = mesh["file"]
    good_text = f.read_text()
    expected = expected.format(file=f, key_a=mesh["good"][0]["public_key"])
    before = seen(a)
    assert before["peers"]["b"][2] == "established"
    assert mesh["good"][1]["public_key"] in before["wireguard"]
    try:
        if content is None:
            f.unlink()
        elif isinstance(content, str):
            f.write_text(content)
        else:
            f.write_text(yaml.safe_dump(content(mesh["good"]), sort_keys=False))

        r = a.cli("agent", "reload")
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        err = r.stderr.strip()
        assert expected in err, err
        assert len(err.splitlines()) == 1, err  # one line, not a dump of the document
        assert seen(a) == before  # nothing changed: same peers, same sessions (uptime), same WireGuard

        chk = a.cli("config", "check", str(a.config_path))
        assert chk.returncode == 1, (chk.stdout, chk.stderr)
        assert f"{a.config_path}: {expected}" in chk.stderr, chk.stderr
    finally:
        f.write_text(good_text)
    assert a.cli("agent", "reload").returncode == 0  # the good file is accepted again
    assert seen(a) == before
