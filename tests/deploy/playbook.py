"""Running the example playbook (deploy/ansible/site.yml) from a test and reading its PLAY RECAP."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from .conftest import ROOT, VENV_BIN, run

ANSIBLE_DIR = ROOT / "deploy" / "ansible"

# argv, env -> the finished process; the default runs on this machine
Runner = Callable[[list[str], dict[str, str]], subprocess.CompletedProcess[str]]


def _here(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(argv, timeout=600, env={**os.environ, **env}, cwd=ANSIBLE_DIR)


def playbook(
    inventory: Path, hosts: Iterable[str], tmp: Path, *extra: str, runner: Runner = _here
) -> tuple[dict[str, dict[str, int]], str]:
    """Run site.yml (with `extra` arguments, e.g. --check --diff) on the inventory; return the PLAY RECAP
    as {host: {ok, changed, failed, ...}} and the output. Fails unless it exits 0 and recaps `hosts`."""
    env = {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(ANSIBLE_DIR / "site.yml"), *extra]
    p = runner(argv, env)
    assert p.returncode == 0, f"ansible-playbook exited {p.returncode}:\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    recap: dict[str, dict[str, int]] = {}
    for line in p.stdout.split("PLAY RECAP", 1)[1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    assert set(recap) == set(hosts), p.stdout[-3000:]
    return recap, p.stdout


def changed_tasks(out: str) -> list[str]:
    """`TASK name: host` for every task (or handler) the run reported changed (for failure messages)."""
    found, task = [], ""
    for line in out.splitlines():
        if m := re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\]", line):
            task = m.group(1)
        elif m := re.match(r"^changed: \[([^\]]+)\]", line):
            found.append(f"{task}: {m.group(1)}")
    return found
