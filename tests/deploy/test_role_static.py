"""Checks of the role and unit that need no namespaces: lint, the shipped unit, the address filter."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import ROOT, VENV_BIN, must, run

ROLE = ROOT / "deploy" / "ansible" / "roles" / "durantic"
UNIT = ROOT / "deploy" / "systemd" / "durantic.service"


def _ansible_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }


def _filters() -> ModuleType:
    spec = importlib.util.spec_from_file_location("durantic_filters", ROLE / "filter_plugins" / "durantic.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    ("network", "node_id", "expected"),
    [
        ("100.64.0.0/24", 1, "100.64.0.1/24"),
        ("100.64.0.0/24", "254", "100.64.0.254/24"),
        ("100.64.0.0/16", 300, "100.64.1.44/16"),
        ("fd00:64::/64", 7, "fd00:64::7/64"),
    ],
)
def test_node_id_picks_the_host_address(network: str, node_id: object, expected: str) -> None:
    assert _filters().durantic_host_address(network, node_id) == expected


@pytest.mark.parametrize(
    ("network", "node_id", "message"),
    [
        ("100.64.0.0/24", 0, "outside 1..254"),
        ("100.64.0.0/24", 255, "outside 1..254"),  # the broadcast address
        ("100.64.0.1/24", 1, "is not a network"),
        ("100.64.0.0/24", "one", "is not an integer"),
    ],
)
def test_bad_node_id_or_network_names_the_variable(network: str, node_id: object, message: str) -> None:
    with pytest.raises(Exception, match=message):
        _filters().durantic_host_address(network, node_id)


def test_ansible_lint_production_profile_passes(tmp_path: Path) -> None:
    lint = VENV_BIN / "ansible-lint"
    assert lint.exists(), "ansible-lint is a dev dependency: pip install -e '.[dev]'"
    p = run(
        [str(lint), "--offline", "--profile", "production", "--nocolor"],
        env=_ansible_env(tmp_path),
        cwd=ROOT / "deploy" / "ansible",
        timeout=600,
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]


def test_shipped_unit_is_the_role_template_with_default_paths(tmp_path: Path) -> None:
    defaults = {
        "durantic_venv": "/opt/durantic",
        "durantic_config_dir": "/etc/durantic",
        "durantic_socket": "/run/durantic/agent.sock",
        "durantic_state_dir": "/var/lib/durantic",
        "durantic_runtime_dir": "/run/durantic",
    }
    (tmp_path / "vars.json").write_text(json.dumps(defaults))
    out = tmp_path / "durantic.service"
    must(
        [
            str(VENV_BIN / "ansible"),
            "localhost",
            "-c",
            "local",
            "-e",
            f"@{tmp_path / 'vars.json'}",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={ROLE / 'templates' / 'durantic.service.j2'} dest={out}",
        ],
        env=_ansible_env(tmp_path),
    )
    assert out.read_text() == UNIT.read_text(), "re-render deploy/systemd/durantic.service from the template"


def test_unit_restarts_reloads_via_cli_and_stops_the_agent_first() -> None:
    lines = {
        ln.split("=", 1)[0]: ln.split("=", 1)[1]
        for ln in UNIT.read_text().splitlines()
        if "=" in ln and not ln.startswith("#")
    }
    assert lines["Restart"] == "on-failure"
    assert lines["ExecReload"] == "/opt/durantic/bin/durantic agent reload"
    assert lines["ExecStart"] == "/opt/durantic/bin/durantic agent run -c /etc/durantic/agent.yaml"
    # SIGTERM to the agent alone: gobgpd stays up while the agent withdraws its VIPs.
    assert lines["KillMode"] == "mixed"
    assert set(lines["CapabilityBoundingSet"].split()) == {"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}
    assert lines["DeviceAllow"] == "/dev/net/tun rw"


def test_unit_hardening_scores_ok_in_systemd_analyze() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    p = run([analyze, "security", "--offline=true", "--threshold=35", str(UNIT)])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
