"""Child processes that never outlive the agent."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

from .errors import AgentError

__all__ = ["PROBE_TAG", "boot_ticks", "kill_tagged", "with_pdeathsig"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def with_pdeathsig(argv: list[str]) -> list[str]:
    """`argv` wrapped so the kernel SIGKILLs the child when the agent dies (PR_SET_PDEATHSIG).

    setpriv (util-linux, Essential on Debian) sets it and execs the program; the setting survives exec.
    A `preexec_fn` would do the same in Python, but running Python between fork and exec is unsafe once
    gRPC's threads exist (seen: wireguard-go children dying of SIGSEGV at start), and without it
    subprocess can use vfork.
    """
    setpriv = shutil.which("setpriv") or ("/usr/bin/setpriv" if shutil.which("/usr/bin/setpriv") else None)
    if setpriv is None:
        raise AgentError("setpriv (util-linux) not found: it keeps gobgpd and wireguard-go from outliving the agent")
    return [setpriv, "--pdeathsig", "KILL", *argv]


PROBE_TAG = "DURANTIC_PROBE_ID"
"""Environment variable set in every exec check: its value marks each process the check started."""


def boot_ticks() -> int:
    """Now, in the clock of /proc/PID/stat's start time (clock ticks since boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _CLK_TCK)


def kill_tagged(tag: str, since: int, rounds: int = 8) -> int:
    """SIGKILL every process started at or after `since` (boot_ticks) whose environment carries
    PROBE_TAG=`tag`; returns how many. Repeats while it finds new ones, so a process forked during a
    pass is caught by the next.

    This is what finds a check's daemonized children (`setsid cmd &`, double forks): they left the
    check's process group and session, but not its environment.
    """
    needle = f"\0{PROBE_TAG}={tag}\0".encode()
    me = os.getpid()
    killed: set[int] = set()
    for _ in range(rounds):
        found = 0
        for pid in _pids_started_since(since):
            if pid == me or pid in killed:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = b"\0" + f.read() + b"\0"
            except OSError:
                continue
            if needle in env:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                found += 1
        if not found:
            break
    return len(killed)


def _pids_started_since(since: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # fields after the command name (which may hold spaces and parentheses); start time is field 22
        rest = stat.rpartition(b")")[2].split()
        if len(rest) > 19 and int(rest[19]) >= since:
            out.append(int(name))
    return out
