"""The Ansible role, run for real against three "hosts" that are network namespaces on this machine.

Each host has a connection=local inventory entry whose Python interpreter is a wrapper that runs
modules inside that host's namespace, and a per-host root prefix (durantic_prefix) so its files land
in <tmp>/nodeN/etc/durantic, its venv in <tmp>/nodeN/opt/durantic. The role's tasks are the ones real
hosts run; only systemd is left out (durantic_manage_service: false), and the test starts the agents
from the rendered files the way the unit would. Check mode (--check --diff) runs on the fresh hosts, on
running agents before the objects are applied, and on the converged mesh (changed=0, no diff).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from .conftest import Netns, must, run, wait_for
from .playbook import changed_tasks, playbook

NODES = (1, 2, 3)


def _playbook(inventory: Path, tmp: Path, *extra: str) -> tuple[dict[str, dict[str, int]], str]:
    return playbook(inventory, [f"node{i}" for i in NODES], tmp, *extra)


def _inventory(tmp: Path, netns: Netns, names: dict[int, str], wheel: Path, wheelhouse: Path) -> Path:
    hosts: dict[str, Any] = {}
    for i in NODES:
        wrapper = tmp / f"node{i}.python"
        # Ansible runs every module of this host through this interpreter: inside the host's netns.
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {names[i]} /usr/bin/python3 "$@"\n')
        wrapper.chmod(0o755)
        # The directories every real host has; the role creates its own ones.
        for d in ("usr/local/bin", "etc/sysctl.d", "etc/systemd/system", "opt", "run"):
            (tmp / f"node{i}" / d).mkdir(parents=True, exist_ok=True)
        hosts[f"node{i}"] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": str(wrapper),
            "ansible_become": False,
            "durantic_prefix": str(tmp / f"node{i}"),
            "durantic_node_id": i,
            "durantic_wg_endpoint_host": f"192.0.2.{i}",
            # UAPI sockets live in one /var/run/wireguard for every namespace: unique names per run.
            "durantic_mesh_interface": f"dur-{netns.prefix}{i}",
            "durantic_announcements": [{"name": f"lan{i}", "route": f"10.77.{i}.0/24"}],
        }
    inv = {
        "all": {
            "children": {
                "durantic": {
                    "hosts": hosts,
                    "vars": {
                        "durantic_wheel_src": str(wheel),
                        "durantic_pip_extra_args": f"--no-index --find-links {wheelhouse}",
                        "durantic_python": "/usr/bin/python3",
                        "durantic_manage_service": False,
                        "durantic_wireguard_backend": "userspace",
                        "durantic_mesh_network": "100.64.0.0/24",
                        "durantic_api_http": "",
                    },
                }
            }
        }
    }
    path = tmp / "inventory.json"
    path.write_text(json.dumps(inv, indent=2))  # JSON is YAML: the yaml inventory plugin reads it
    return path


@pytest.mark.lab
def test_role_builds_a_mesh_that_exchanges_routes_and_reruns_with_no_change(
    built_wheel: Path, wheelhouse: Path, tmp_path: Path, netns: Netns
) -> None:
    # Three hosts on one L2 segment: a bridge in a fourth namespace, a veth to each host.
    sw = netns.add("sw")
    must(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
    must(["ip", "-n", sw, "link", "set", "br0", "up"])
    names: dict[int, str] = {}
    for i in NODES:
        ns = names[i] = netns.add(f"n{i}")
        must(["ip", "-n", sw, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns])
        must(["ip", "-n", sw, "link", "set", f"p{i}", "master", "br0", "up"])
        must(["ip", "-n", ns, "addr", "add", f"192.0.2.{i}/24", "dev", "eth0"])
        must(["ip", "-n", ns, "link", "set", "eth0", "up"])
    inventory = _inventory(tmp_path, netns, names, built_wheel, wheelhouse)

    # Check mode on fresh hosts: nothing installed, no key, no CLI yet; it must report, not fail.
    recap, out = _playbook(inventory, tmp_path, "--check", "--diff")
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in recap.values()), (recap, out[-3000:])
    assert (
        not (tmp_path / "node1" / "etc" / "durantic").exists()
        and not (tmp_path / "node1" / "opt" / "durantic").exists()
    )

    # Run 1: installs, makes keys, renders and validates files. No agent runs yet, so no objects.
    recap, _ = _playbook(inventory, tmp_path)
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in recap.values()), recap

    etc = {i: tmp_path / f"node{i}" / "etc" / "durantic" for i in NODES}
    cli = {i: tmp_path / f"node{i}" / "opt" / "durantic" / "bin" / "durantic" for i in NODES}
    pubkeys = {}
    for i in NODES:
        key = etc[i] / "prod.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        pubkeys[i] = must([str(cli[i]), "mesh", "pubkey", str(key)]).stdout.strip()
        assert (tmp_path / f"node{i}/etc/systemd/system/durantic.service").exists()
        assert (tmp_path / f"node{i}/usr/local/bin/durantic").resolve() == cli[i].resolve()
        must([str(cli[i]), "config", "check", str(etc[i] / "agent.yaml")])
    for i in NODES:
        members = (etc[i] / "mesh-prod.yaml").read_text()
        others = [j for j in NODES if j != i]
        # Each host's file lists the other two, with the keys they made themselves; no private key.
        assert all(pubkeys[j] in members and f"192.0.2.{j}:51820" in members for j in others), members
        assert pubkeys[i] not in members
        assert (etc[i] / "prod.key").read_text().strip() not in members
        assert f"asn: {4200000000 + i}" in (etc[i] / "agent.yaml").read_text()

    # Start the agents from the rendered files, as the unit's ExecStart does.
    env_base = {**os.environ, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
    socks = {i: str(tmp_path / f"node{i}" / "run" / "durantic" / "agent.sock") for i in NODES}
    agents = {}
    for i in NODES:
        argv = [str(cli[i]), "agent", "run", "-c", str(etc[i] / "agent.yaml")]
        agents[i] = netns.spawn(names[i], argv, tmp_path / f"agent{i}.log", {**env_base, "DURANTIC_SOCKET": socks[i]})

    def cli_json(i: int, *args: str) -> Any:
        if agents[i].poll() is not None:
            log = (tmp_path / f"agent{i}.log").read_text()[-3000:]
            raise AssertionError(f"agent on node{i} exited {agents[i].returncode}:\n{log}")
        p = run(
            ["ip", "netns", "exec", names[i], str(cli[i]), *args, "--json"],
            env={**env_base, "DURANTIC_SOCKET": socks[i]},
        )
        return json.loads(p.stdout) if p.returncode == 0 else None

    def mesh_up() -> dict[str, Any] | None:
        seen: dict[str, Any] = {}
        for i in NODES:
            peers = cli_json(i, "peers") or []
            seen[f"node{i}"] = {p.get("name"): p.get("state") for p in peers}
        want = all(seen[f"node{i}"].get(f"node{j}") == "established" for i in NODES for j in NODES if j != i)
        last_peers.update(seen)
        return seen if want else None

    last_peers: dict[str, Any] = {}
    try:
        wait_for("every agent to have both other members established", mesh_up, timeout=90)
    except AssertionError as e:
        raise AssertionError(f"{e}; peers seen: {last_peers}") from None

    # Check mode with the agents up: the announcement would be created (the agent's dry run says so),
    # and --diff shows it; nothing is applied.
    recap, out = _playbook(inventory, tmp_path, "--check", "--diff")
    assert all(r["changed"] == 1 and r["failed"] == 0 for r in recap.values()), changed_tasks(out)
    assert "+++ b/announcement/lan1" in out and "+route: 10.77.1.0/24" in out, out[-4000:]
    assert cli_json(1, "announce", "list") == []

    # Run 2: the agents are up, so the role applies each host's announcement.
    recap, _ = _playbook(inventory, tmp_path)
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in recap.values()), recap

    def routes_learned() -> bool:
        for i in NODES:
            for j in NODES:
                if i == j:
                    continue
                out = run(["ip", "-n", names[i], "route", "show", f"10.77.{j}.0/24"]).stdout
                if f"dev dur-{netns.prefix}{i}" not in out:
                    return False
        return True

    wait_for("each host's route in the other hosts' kernels via the mesh interface", routes_learned, timeout=60)
    # And traffic crosses the WireGuard mesh: node2 reaches node1's mesh address.
    must(["ip", "netns", "exec", names[2], "ping", "-c", "1", "-W", "2", "100.64.0.1"])

    # A converged mesh in check mode: nothing would change, and the diff is empty (no key blanked).
    recap, out = _playbook(inventory, tmp_path, "--check", "--diff")
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), changed_tasks(out)
    assert "--- " not in out and "+++ " not in out, out[-4000:]

    # Run 3: nothing left to do.
    recap, _ = _playbook(inventory, tmp_path)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), recap
