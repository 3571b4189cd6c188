"""Direct-path probe addresses: one IPv6 link-local per member, derived from its mesh address.

A member's probe address always stays in its own WireGuard peer's AllowedIPs, whichever peer carries
its mesh address (itself, or a relay in transit). An echo from our probe address to the member's
therefore crosses the direct tunnel in both directions, and is accepted and counted at both ends, while
either end relays the other: that is what lets two ends that disagree about Direct see each other again.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_probe_address", "probe_address", "probe_host", "probe_interface"]

_LINK_LOCAL = 0xFE80 << 112
_MARK4, _MARK6 = 0xD4 << 48, 0xD6 << 48  # top of the interface identifier: ours, and from which family
_LOW48 = (1 << 48) - 1


def probe_address(mesh_address: str) -> str:
    """fe80::d4:0:<IPv4> for an IPv4 mesh address, fe80::d6:<its last 48 bits> for an IPv6 one."""
    a = ipaddress.ip_address(mesh_address)
    iid = _MARK4 | int(a) if a.version == 4 else _MARK6 | (int(a) & _LOW48)
    return str(ipaddress.IPv6Address(_LINK_LOCAL | iid))


def probe_host(mesh_address: str) -> str:
    """The probe address as an allowed IP (/128)."""
    return f"{probe_address(mesh_address)}/128"


def probe_interface(mesh_address: str) -> str:
    """The probe address as this machine puts it on its mesh interface (/64: the link-local prefix)."""
    return f"{probe_address(mesh_address)}/64"


def is_probe_address(addr: ipaddress.IPv6Address) -> bool:
    """A link-local carrying our mark (any member's probe address)."""
    v = int(addr)
    return v >> 64 == 0xFE80 << 48 and (v & ~_LOW48 & ((1 << 64) - 1)) in (_MARK4, _MARK6)
