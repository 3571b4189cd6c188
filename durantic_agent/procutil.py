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
_PF_KTHREAD = 0x00200000


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


def kill_tagged(tag: str, since: int, patience: float = 1.0) -> int:
    """SIGKILL every process started at or after `since` (boot_ticks) whose environment carries
    PROBE_TAG=`tag`; returns how many. Repeats while it finds new ones, so a process forked during a
    pass is caught by the next, and for up to `patience` seconds while a process it cannot read yet
    (in the middle of an exec) may turn out to be one.

    This is what finds a check's daemonized children (`setsid cmd &`, double forks): they left the
    check's process group and session, but not its environment.
    """
    needle = f"\0{PROBE_TAG}={tag}\0".encode()
    me = os.getpid()
    killed: set[int] = set()
    deadline = time.monotonic() + patience
    pause = 0.001
    while True:
        found = unsure = 0
        for pid in _pids_started_since(since):
            if pid == me or pid in killed:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue  # gone
            if not env:
                unsure += 1  # in the middle of an exec: its new environment is not set up yet
                continue
            if needle in b"\0" + env + b"\0":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                found += 1
        if found:
            continue
        if not unsure or time.monotonic() > deadline:
            return len(killed)
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


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
        # fields after the command name (which may hold spaces and parentheses): state is field 3, flags
        # 9, start time 22; zombies and kernel threads have no environment to look at
        rest = stat.rpartition(b")")[2].split()
        if len(rest) > 19 and int(rest[19]) >= since and rest[0] not in (b"Z", b"X") and not int(rest[6]) & _PF_KTHREAD:
            out.append(int(name))
    return out
