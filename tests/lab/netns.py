"""Lab harness: network namespaces named with a per-run prefix, always removed.

with Netns(f"{run_prefix()}a") as ns:
    ns.run(["ip", "link", "set", "lo", "up"])
    await ns.arun(["ping", "-c1", "-W1", "10.0.0.2"])
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence
from types import TracebackType

__all__ = ["Netns", "run_prefix", "veth_pair"]


def run_prefix() -> str:
    """Short, per-run: fits interface names (15 chars) with room for a suffix."""
    return f"dt{os.getpid() % 10000}"


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def create(self) -> Netns:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.run(["ip", "link", "set", "lo", "up"])
        return self

    def delete(self) -> None:
        # deleting the namespace destroys its links; processes inside are the caller's to stop
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

    def run(self, cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(cmd)} -> {proc.returncode}: {proc.stderr.strip()}")
        return proc

    async def arun(self, cmd: Sequence[str]) -> tuple[int, str]:
        """Run without blocking the event loop (backends in this process keep working); rc, output."""
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            self.name,
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    def __enter__(self) -> Netns:
        return self.create()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.delete()


def veth_pair(a: Netns, a_if: str, a_addr: str, b: Netns, b_if: str, b_addr: str) -> None:
    """A veth between two namespaces with an address (CIDR) on each end, both up."""
    subprocess.run(
        ["ip", "link", "add", a_if, "netns", a.name, "type", "veth", "peer", b_if, "netns", b.name],
        check=True,
        capture_output=True,
    )
    for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
        ns.run(["ip", "addr", "add", addr, "dev", ifname])
        ns.run(["ip", "link", "set", ifname, "up"])
