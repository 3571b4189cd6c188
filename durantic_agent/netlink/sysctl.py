"""IP forwarding: the overlay forwards for transit, so the agent turns it on and can report it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from durantic_agent.netlink._nsenter import in_netns

__all__ = ["Forwarding", "enable_forwarding", "read_forwarding"]

log = logging.getLogger(__name__)

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
    # /proc/sys/net shows the namespace of the thread that opens it. Under the systemd unit /proc/sys is
    # read-only (ProtectKernelTunables; the unit switches forwarding on before the start), so only what
    # is off is written, and a refused write leaves the agent running without transit rather than down.
    for path, wanted in ((_V4, True), (_V6, ipv6)):
        if not wanted or _read(path) in (True, None):
            continue
        try:
            path.write_text("1\n")
        except OSError as exc:
            log.warning("cannot switch on IP forwarding (%s): %s; this machine will not relay for others", path, exc)
    return _read_both()


async def read_forwarding(netns: str | None = None) -> Forwarding:
    return await asyncio.to_thread(in_netns, netns, _read_both)


async def enable_forwarding(ipv6: bool = True, netns: str | None = None) -> Forwarding:
    return await asyncio.to_thread(in_netns, netns, lambda: _enable(ipv6))
