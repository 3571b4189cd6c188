"""Child processes that never outlive the agent."""

from __future__ import annotations

import shutil

from .errors import AgentError

__all__ = ["with_pdeathsig"]


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
