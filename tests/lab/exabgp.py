"""ExaBGP (PyPI `exabgp`, a dev extra) as a neighbour in one of the lab's namespaces.

It runs from the venv as a lab process, never drops privileges (its API process writes into the lab
directory, which is root's), opens no CLI pipe and does not listen: it connects to the agent. Its API
process (exabgp_api.py) writes every message ExaBGP receives, JSON-encoded, to a file the test reads,
and passes on the API commands the test writes to a FIFO.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import VENV_BIN, Lab, Proc, wait_for

API = Path(__file__).with_name("exabgp_api.py")
ENV = {
    "exabgp.daemon.user": "root",
    "exabgp.daemon.drop": "false",
    "exabgp.api.cli": "false",
    "exabgp.api.ack": "false",
    "exabgp.log.destination": "stdout",
}


@dataclass
class ExaBgp:
    proc: Proc
    commands: Path
    received_file: Path

    def send(self, command: str) -> None:
        """One API command line (`announce route ...`, `withdraw route ...`, `announce attributes ...`)."""
        # non-blocking: with the API process gone this fails (ENXIO) instead of waiting for a reader
        with open(os.open(self.commands, os.O_WRONLY | os.O_NONBLOCK), "w", encoding="utf-8") as f:
            f.write(command.rstrip("\n") + "\n")

    def messages(self) -> list[dict[str, Any]]:
        try:
            lines = self.received_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def updates(self) -> list[dict[str, Any]]:
        """The `update` part of every UPDATE received, in order."""
        return [m["neighbor"]["message"]["update"] for m in self.messages() if m.get("type") == "update"]

    def state(self) -> str | None:
        """The session's last state change as ExaBGP reported it (`up`, `down`, `connected`)."""
        states = [m["neighbor"]["state"] for m in self.messages() if m.get("type") == "state"]
        return states[-1] if states else None


def announced(update: dict[str, Any]) -> set[str]:
    return {n["nlri"] for per_nh in update.get("announce", {}).get("ipv4 unicast", {}).values() for n in per_nh}


def withdrawn(update: dict[str, Any]) -> set[str]:
    return {n["nlri"] for n in update.get("withdraw", {}).get("ipv4 unicast", [])}


def start_exabgp(lab: Lab, name: str, ns: str, neighbour: str) -> ExaBgp:
    """ExaBGP with one `neighbor` block (`neighbour`, which must use `api { processes [api]; ... }`)."""
    exabgp = VENV_BIN / "exabgp"
    if shutil.which(str(exabgp)) is None:
        pytest.fail(f"{exabgp} is missing (PyPI exabgp, a dev extra): run `make setup`")
    d = lab.base / name
    d.mkdir(parents=True, exist_ok=True)
    commands, received = d / "commands.fifo", d / "received.jsonl"
    os.mkfifo(commands)
    conf = d / "exabgp.conf"
    conf.write_text(
        f"""process api {{
  run {sys.executable} {API} {commands} {received};
  encoder json;
}}
{neighbour}
"""
    )
    proc = lab.spawn(name, ns, [str(exabgp), str(conf)], env=ENV)
    wait_for(lambda: received.exists() or not proc.alive(), 15, f"{name}: its API process")
    assert proc.alive(), proc.log()
    return ExaBgp(proc, commands, received)
