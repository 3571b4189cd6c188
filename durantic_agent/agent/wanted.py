"""What one controller pass wants, computed once at its start and handed to every reconciler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core.policies import PolicyProgram
from ..desired import Desired
from ..fib import Fib

__all__ = ["Wanted", "WgInterface", "WgMember"]


@dataclass(frozen=True)
class WgMember:
    public_key: str
    endpoint: str | None
    persistent_keepalive: int


@dataclass(frozen=True)
class WgInterface:
    """One mesh's WireGuard interface; AllowedIPs come from the FIB."""

    ifname: str
    private_key: str
    listen_port: int
    address: str
    members: tuple[WgMember, ...] = ()


@dataclass(frozen=True)
class Wanted:
    desired: Desired = field(default_factory=Desired)
    policies: PolicyProgram = field(default_factory=PolicyProgram)
    fib: Fib = field(default_factory=Fib)
    interfaces: Mapping[str, WgInterface] = field(default_factory=dict)
    fib_enabled: bool = True
