"""The ports the reconcilers drive: what each needs of gobgpd, the kernel and WireGuard, as Protocols.

The adapters (gobgp/, netlink/, wg/) implement them; unit tests implement them in memory."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from ..core.policies import PolicyChange, PolicyProgram
from ..core.types import PathSpec, PeerSpec, Route
from ..wg.port import WireGuardBackend

__all__ = ["BgpSpeaker", "Loopback", "RouteTable", "WireGuardBackend"]


class BgpSpeaker(Protocol):
    async def local_paths(self, prefixes: Collection[str] | None = None) -> set[str]:
        """Prefixes that have a path originated here; only among `prefixes` when given."""
        ...

    async def add_paths(self, specs: Iterable[PathSpec]) -> None: ...

    async def delete_paths(self, specs: Iterable[PathSpec]) -> None: ...

    async def owned_peers(self) -> dict[str, str]:
        """address -> fingerprint of every peer the agent created."""
        ...

    async def add_peer(self, spec: PeerSpec, local_restarting: bool) -> None: ...

    async def delete_peer(self, address: str) -> None: ...

    async def apply_policies(self, want: PolicyProgram) -> PolicyChange:
        """Make gobgpd's agent-owned policy objects and assignments equal to `want` (read, plan, apply)."""
        ...


class RouteTable(Protocol):
    async def dump(self) -> dict[str, Route]: ...

    async def replace(self, routes: Iterable[Route]) -> None: ...

    async def delete(self, dsts: Iterable[str]) -> None: ...


class Loopback(Protocol):
    async def owned(self) -> set[str]:
        """The VIPs the agent bound (carrying its mark)."""
        ...

    async def ensure(self, wanted: set[str]) -> None: ...
