"""The WireGuard port: what reconcilers may ask of a backend, and the values it speaks.

Keys are base64 everywhere in this port; allowed IPs are canonical prefix strings ("10.0.0.1/32");
endpoints are "ip:port" or "[ipv6]:port".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from durantic_agent.errors import WireGuardError

__all__ = ["DeviceState", "PeerSpec", "PeerState", "WireGuardBackend", "WireGuardNoSocket", "WireGuardOpError"]


class WireGuardOpError(WireGuardError):
    """A backend operation failed; `errno` is the (positive) errno when the device reported one."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(message)


class WireGuardNoSocket(WireGuardOpError):
    """The kernel backend could not open its netlink socket (out of descriptors, say): nothing was asked
    of the device, so the caller may try again without having changed anything."""


@dataclass(frozen=True)
class PeerSpec:
    public_key: str
    endpoint: str | None = None
    allowed_ips: frozenset[str] = field(default_factory=frozenset)
    persistent_keepalive: int = 0


@dataclass(frozen=True)
class PeerState:
    public_key: str
    endpoint: str | None
    allowed_ips: frozenset[str]
    last_handshake: float | None  # unix time; None = never
    rx_bytes: int
    tx_bytes: int
    persistent_keepalive: int


@dataclass(frozen=True)
class DeviceState:
    ifname: str
    public_key: str | None  # None when the device has no private key yet
    listen_port: int
    peers: dict[str, PeerState]


@runtime_checkable
class WireGuardBackend(Protocol):
    async def ensure_interface(
        self, ifname: str, private_key_b64: str, listen_port: int, address: str, mtu: int = 1420
    ) -> None:
        """Create if missing; set key, port, address, MTU; link up. Idempotent."""

    async def delete_interface(self, ifname: str) -> None:
        """Remove the interface; a missing one is not an error."""

    async def interfaces(self) -> list[str]:
        """Interfaces this backend manages (by name prefix), sorted."""

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        """The device and its peers; with allowed_ips=False a backend may leave each peer's AllowedIPs
        empty (liveness and peer listings read every second must not parse 50k prefixes)."""
        ...

    async def set_peers(self, ifname: str, peers: Mapping[str, PeerSpec]) -> None:
        """Converge to exactly these peers (keyed by public key) with the fewest changes."""

    def forget(self, ifname: str) -> None:
        """Drop what the backend remembers of the device's peers: the next set_peers reads the device."""

    async def close(self) -> None: ...
