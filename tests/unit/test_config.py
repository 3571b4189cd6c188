"""agent.yaml validation: every error names its path and the bad value, and `config check` exits 0/1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from durantic_agent.config import load_config, parse_config
from durantic_agent.errors import ConfigError

GOOD: dict[str, Any] = {
    "machine": {"name": "web-1", "asn": 4200000001, "router_id": "192.0.2.10"},
    "bgp": {"listen_port": 179, "hold_time": 9, "keepalive": 3, "graceful_restart": True},
    "neighbors": [{"name": "tor1", "address": "192.0.2.1", "asn": 65000, "password_file": None, "multihop": None}],
    "api": {"socket": "/run/durantic/agent.sock", "http": "127.0.0.1:9179"},
    "state_dir": "/var/lib/durantic",
}
KEY = "0KlfJDSlXKi4VlIbcLRyz/DhRxbqoOWzE2XMGOQhNGs="


def with_(path: str, value: Any) -> dict[str, Any]:
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    cur = doc
    for p in parents:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    cur[last] = value
    return dict(doc)


def errors_of(doc: Any) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    return e.value.messages


def test_documented_config_is_valid() -> None:
    cfg = parse_config(GOOD)
    assert cfg.router_id == "192.0.2.10" and cfg.bgp.connect_retry == 5


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (with_("machine.asn", 0), "machine.asn: 0 is not an AS number"),
        (with_("machine.asn", 4294967296), "machine.asn: 4294967296 is not an AS number"),
        (with_("machine.router_id", "1.2.3"), "machine.router_id: '1.2.3' is not an IPv4 address"),
        (with_("neighbors.0.address", "192.0.2.300"), "neighbors[0].address: '192.0.2.300' is not a valid IP"),
        (with_("bgp.keepalive", 5), "bgp.keepalive: 5 must be at most a third of hold_time (9)"),
        (with_("api.http", "0.0.0.0:9179"), "api.http: '0.0.0.0:9179' must be a loopback address:port"),
        ({**GOOD, "surprise": 1}, "surprise: unknown key"),
        (
            with_("neighbors", [*GOOD["neighbors"], {"name": "tor1", "address": "192.0.2.2", "asn": 65001}]),
            "neighbors[1].name: 'tor1' duplicates neighbors[0]",
        ),
        (
            with_("neighbors", [*GOOD["neighbors"], {"name": "tor2", "address": "192.0.2.1", "asn": 65001}]),
            "neighbors[1].address: '192.0.2.1' duplicates neighbors[0]",
        ),
        (
            {
                **GOOD,
                "meshes": [{"name": "prod", "address": "100.64.0.300/24", "private_key_file": "/nonexistent"}],
            },
            "meshes[0].address: '100.64.0.300/24' is not a valid interface address",
        ),
        (
            {
                **GOOD,
                "meshes": [
                    {
                        "name": "prod",
                        "address": "100.64.0.1/24",
                        "private_key_file": "/nonexistent",
                        "members": [{"name": "b", "asn": 4200000002, "address": "100.65.0.2", "public_key": KEY}],
                    }
                ],
            },
            "meshes[0].members[0].address: '100.65.0.2' is outside the mesh prefix 100.64.0.0/24",
        ),
        (
            {
                **GOOD,
                "meshes": [
                    {
                        "name": "prod",
                        "address": "100.64.0.1/24",
                        "private_key_file": "/nonexistent",
                        "members": [{"name": "b", "asn": 4200000002, "address": "100.64.0.2", "public_key": "abc"}],
                    }
                ],
            },
            "meshes[0].members[0].public_key: 'abc' is not a WireGuard key",
        ),
        (
            {**GOOD, "meshes": [{"name": "prod", "address": "100.64.0.1/24", "private_key_file": "/nonexistent"}]},
            "meshes[0].private_key_file: '/nonexistent' does not exist",
        ),
    ],
)
def test_errors_name_path_and_value(doc: Any, expected: str) -> None:
    errs = errors_of(doc)
    assert any(e.startswith(expected) for e in errs), errs


def test_every_error_is_reported(tmp_path: Path) -> None:
    doc = {**with_("machine.asn", 0), "surprise": 1}
    doc["neighbors"][0]["asn"] = -1
    errs = errors_of(doc)
    assert len(errs) == 3


def test_members_file_is_read_relative_to_config(tmp_path: Path) -> None:
    key = tmp_path / "prod.key"
    key.write_text(KEY)
    key.chmod(0o600)
    (tmp_path / "members.yaml").write_text(
        yaml.safe_dump({"members": [{"name": "b", "asn": 4200000002, "address": "100.64.0.2", "public_key": KEY}]})
    )
    doc = {
        **GOOD,
        "meshes": [
            {"name": "prod", "address": "100.64.0.1/24", "private_key_file": str(key), "members_file": "members.yaml"}
        ],
    }
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp_path / "agent.yaml")
    assert cfg.meshes[0].ifname == "dur-prod" and cfg.meshes[0].members and cfg.meshes[0].members[0].name == "b"
    (tmp_path / "members.yaml").write_text("members: [")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "agent.yaml")
    assert e.value.messages[0].startswith("meshes[0].members_file:") and "not valid YAML" in e.value.messages[0]


@pytest.mark.parametrize(("doc", "code"), [(GOOD, 0), (with_("machine.asn", 0), 1)])
def test_config_check_exit_codes(tmp_path: Path, doc: Any, code: int) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(yaml.safe_dump(doc))
    p = subprocess.run(
        [str(Path(sys.executable).parent / "durantic"), "config", "check", str(f)], capture_output=True, text=True
    )
    assert p.returncode == code, p.stderr
    if code:
        assert "machine.asn: 0" in p.stderr
