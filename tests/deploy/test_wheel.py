"""The platform wheel: what it carries, and that it runs the bundled gobgpd in a clean venv."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from .conftest import Netns, must, run, wait_for


def test_wheel_carries_gobgpd_cli_and_stubs_with_a_platform_tag(built_wheel: Path) -> None:
    assert re.fullmatch(r"durantic_agent-[^-]+-py3-none-manylinux_2_\d+_x86_64\.whl", built_wheel.name), (
        built_wheel.name
    )
    with zipfile.ZipFile(built_wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
        wheel_meta = z.read(next(n for n in infos if n.endswith(".dist-info/WHEEL"))).decode()
    assert "Root-Is-Purelib: false" in wheel_meta
    for exe in ("durantic_agent/_bin/gobgpd", "durantic_agent/_bin/gobgp"):
        assert exe in infos, f"{exe} missing from {built_wheel.name}"
        mode = infos[exe].external_attr >> 16
        assert mode & stat.S_IXUSR and mode & stat.S_IXOTH, f"{exe} is not executable in the wheel: {oct(mode)}"
    stubs = ("gobgp", "attribute", "capability", "common", "extcom", "nlri")
    for stub in (*(f"{s}_pb2.py" for s in stubs), "gobgp_pb2_grpc.py"):
        assert f"durantic_agent/_gobgp/{stub}" in infos
    # Installed at the wheel root (platlib), not under a .data/ tree.
    assert not [n for n in infos if ".data/" in n]


@pytest.mark.lab
def test_clean_venv_runs_the_bundled_gobgpd(built_wheel: Path, wheelhouse: Path, tmp_path: Path, netns: Netns) -> None:
    venv = tmp_path / "venv"
    must(["/usr/bin/python3", "-m", "venv", str(venv)])
    must([str(venv / "bin/pip"), "install", "-q", "--no-index", "--find-links", str(wheelhouse), str(built_wheel)])
    path = f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"
    assert shutil.which("gobgpd", path=path) is None, "a gobgpd on PATH would make this test meaningless"
    env = {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    cli = str(venv / "bin/durantic")

    p = must([cli, "version"], env=env, cwd=tmp_path)
    lines = p.stdout.splitlines()
    assert lines[0] == "durantic 0.1.0", p.stdout
    # both bundled binaries, run from the installed wheel
    assert lines[1].startswith(f"gobgpd 4.8.0 {venv}") and lines[2].startswith(f"gobgp 4.8.0 {venv}"), p.stdout

    ns = netns.add("w")
    must(["ip", "-n", ns, "addr", "add", "192.0.2.10/32", "dev", "lo"])
    sock = tmp_path / "agent.sock"
    cfg = {
        "machine": {"name": "wheel-1", "asn": 4200000001, "router_id": "192.0.2.10"},
        "api": {"socket": str(sock), "http": None},
        "state_dir": str(tmp_path / "state"),
        "runtime_dir": str(tmp_path / "run"),
    }
    (tmp_path / "agent.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    env["DURANTIC_SOCKET"] = str(sock)
    agent = netns.spawn(ns, [cli, "agent", "run", "-c", str(tmp_path / "agent.yaml")], tmp_path / "agent.log", env)

    def status() -> str | None:
        if agent.poll() is not None:
            raise AssertionError(f"agent exited {agent.returncode}: {(tmp_path / 'agent.log').read_text()[-2000:]}")
        q = run(["ip", "netns", "exec", ns, cli, "status", "--json"], env=env, cwd=tmp_path)
        return q.stdout if q.returncode == 0 else None

    out = wait_for("`durantic status --json` to answer", status, timeout=30)
    assert "wheel-1" in json.dumps(json.loads(str(out)))

    # The gobgpd the agent runs is the one installed from the wheel.
    exes = set()
    for pid in run(["ip", "netns", "pids", ns]).stdout.split():
        try:
            exes.add(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            continue
    bundled = [e for e in exes if e.endswith("/durantic_agent/_bin/gobgpd")]
    assert bundled and all(e.startswith(str(venv)) for e in bundled), exes
