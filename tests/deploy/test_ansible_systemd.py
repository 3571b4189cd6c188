"""The role's systemd path (durantic_manage_service: true) on a machine whose PID 1 is systemd.

The machine is a container booted with systemd-nspawn (tests/deploy/systemd_host.py); Ansible runs inside
it with connection=local, as root, so every task, handler and wait of the role runs as on a real host:
the unit is installed, enabled and started by systemd, reloads go through `systemctl reload`, and the
agent runs under the unit's sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, wait_for
from .playbook import ANSIBLE_DIR, changed_tasks, playbook
from .systemd_host import SystemdHost

HOST = "node1"


def _inventory(path: Path, wheel: Path, wheelhouse: Path, iface: str, **extra: Any) -> Path:
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_become": False,  # already root; the machine may have no sudo
        "durantic_node_id": 1,
        # the container's only interface is lo: no default route to take the endpoint from
        "durantic_wg_endpoint_host": "192.0.2.1",
        "durantic_mesh_interface": iface,
        "durantic_announcements": [{"name": "lan1", "route": "10.77.1.0/24"}],
        **extra,
    }
    inv = {
        "all": {
            "children": {
                "durantic": {
                    "hosts": {HOST: host},
                    "vars": {
                        "durantic_wheel_src": str(wheel),
                        "durantic_pip_extra_args": f"--no-index --find-links {wheelhouse}",
                        "durantic_python": "/usr/bin/python3",
                        "durantic_manage_service": True,
                        # the container shares this host's kernel, which may lack WireGuard
                        "durantic_wireguard_backend": "userspace",
                    },
                }
            }
        }
    }
    path.write_text(json.dumps(inv, indent=2))  # JSON is YAML: the yaml inventory plugin reads it
    return path


@pytest.fixture
def machine(built_wheel: Path, wheelhouse: Path, tmp_path: Path) -> Any:
    name = f"dursd{os.getpid() % 10000}{os.urandom(2).hex()}"
    m = SystemdHost(tmp_path / "machine", name, ro_binds=(built_wheel.parent, wheelhouse, ROOT))
    try:
        m.boot()
        yield m
    finally:
        m.shutdown()


@pytest.mark.lab
def test_role_runs_the_agent_under_systemd(built_wheel: Path, wheelhouse: Path, machine: SystemdHost) -> None:
    share = machine.share
    iface = f"dur-{machine.name[-6:]}"
    inventory = _inventory(share / "inventory.json", built_wheel, wheelhouse, iface)

    def play(*extra: str) -> tuple[dict[str, dict[str, int]], str]:
        def inside(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return machine.run(argv, timeout=600, env=env, cwd=str(ANSIBLE_DIR))

        try:
            return playbook(inventory, [HOST], share, *extra, runner=inside)
        except AssertionError as e:
            journal = machine.run(["journalctl", "-u", "durantic.service", "-n", "60", "--no-pager"]).stdout
            raise AssertionError(f"{e}\n--- journal of durantic.service:\n{journal}") from None

    def cli(*args: str) -> Any:
        # the operator's CLI: the role's link on PATH, its default socket
        return json.loads(machine.must(["durantic", *args, "--json"]))

    assert machine.run(["systemctl", "cat", "durantic.service"]).returncode != 0  # a fresh machine

    # Check mode on the fresh machine: the unit cannot be looked up yet; it reports, it does not fail.
    recap, out = play("--check", "--diff")
    assert recap[HOST]["changed"] > 0 and recap[HOST]["failed"] == 0, out[-3000:]
    assert machine.run(["systemctl", "cat", "durantic.service"]).returncode != 0

    # Run 1 converges: unit installed, enabled and started by systemd, objects applied to the running agent.
    recap, out = play()
    assert recap[HOST]["changed"] > 0 and recap[HOST]["failed"] == 0, out[-3000:]
    unit = machine.unit("durantic.service", "UnitFileState", "ActiveState", "SubState", "MainPID", "FragmentPath")
    assert unit["UnitFileState"] == "enabled" and unit["ActiveState"] == "active", unit
    assert unit["FragmentPath"] == "/etc/systemd/system/durantic.service", unit
    main_pid = unit["MainPID"]
    status = cli("status")
    assert status["machine"]["name"] == HOST and status["pid"] == int(main_pid), (status, main_pid)
    assert status["gobgpd"]["ready"], status
    assert [a["name"] for a in cli("announce", "list")] == ["lan1"]

    # Run 2: nothing left to do.
    recap, out = play()
    assert recap[HOST]["changed"] == 0 and recap[HOST]["failed"] == 0, changed_tasks(out)

    # Check mode on the converged machine: nothing would change, and the diff is empty.
    recap, out = play("--check", "--diff")
    assert recap[HOST]["changed"] == 0 and recap[HOST]["failed"] == 0, changed_tasks(out)
    assert "--- " not in out and "+++ " not in out, out[-4000:]
    assert machine.unit("durantic.service", "MainPID")["MainPID"] == main_pid

    # A config change (a router outside the mesh) changes only agent.yaml (staged, then live) and reloads
    # the agent: same process, new neighbour.
    tor = {"name": "tor", "address": "192.0.2.254", "asn": 65000, "passive": True}
    _inventory(inventory, built_wheel, wheelhouse, iface, durantic_neighbors=[tor])
    recap, out = play()
    assert recap[HOST]["failed"] == 0, out[-3000:]
    assert changed_tasks(out) == [
        f"durantic : Render agent.yaml for validation: {HOST}",
        f"durantic : Install the validated agent.yaml: {HOST}",
        f"durantic : Reload durantic: {HOST}",
    ], out[-3000:]
    assert machine.unit("durantic.service", "MainPID")["MainPID"] == main_pid
    assert cli("status")["pid"] == int(main_pid)
    wait_for("the reloaded agent to have the neighbour tor", lambda: "tor" in {p["name"] for p in cli("peers")}, 30)

    # systemctl stop: SIGTERM to the agent alone; it withdraws, stops gobgpd and exits 0 before the timeout.
    machine.must(["systemctl", "stop", "durantic.service"], timeout=60)
    unit = machine.unit("durantic.service", "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    assert unit == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0", "ExecMainCode": "1"}, unit
    assert machine.run(["pgrep", "-x", "gobgpd"]).returncode == 1, "gobgpd outlived the agent"
    assert machine.run(["test", "-e", "/run/durantic/agent.sock"]).returncode == 1
    journal = machine.must(["journalctl", "-u", "durantic.service", "--no-pager", "-o", "cat"])
    assert "SIGKILL" not in journal and "timed out" not in journal, journal[-3000:]
