"""IP forwarding: the overlay forwards for transit, so the agent turns it on and can report it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from durantic_agent.netlink._nsenter import in_netns

__all__ = ["Forwarding", "enable_forwarding", "read_forwarding"]

_V4 = Path("/proc/sys/net/ipv4/ip_forward")
_V6 = Path("/proc/sys/net/ipv6/conf/all/forwarding")


@dataclass(frozen=True)
class Forwarding:
    ipv4: bool
    ipv6: bool | None  # None: IPv6 disabled on this machine


def _read(path: Path) -> bool | None:
    try:
        return path.read_text().strip() == "1"
    except FileNotFoundError:
        return None


def _read_both() -> Forwarding:
    return Forwarding(ipv4=bool(_read(_V4)), ipv6=_read(_V6))


def _enable(ipv6: bool) -> Forwarding:
    # /proc/sys/net shows the namespace of the thread that opens it
    _V4.write_text("1\n")
    if ipv6 and _V6.exists():
        _V6.write_text("1\n")
    return _read_both()


async def read_forwarding(netns: str | None = None) -> Forwarding:
    return await asyncio.to_thread(in_netns, netns, _read_both)


async def enable_forwarding(ipv6: bool = True, netns: str | None = None) -> Forwarding:
    return await asyncio.to_thread(in_netns, netns, lambda: _enable(ipv6))
