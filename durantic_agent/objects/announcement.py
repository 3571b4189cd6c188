"""Announcement objects: a VIP (one address, health check required) or a route (any prefix)."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import socket
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..core.community import Community, LargeCommunity
from ..core.types import PathSpec
from ..health.spec import HealthCheck
from ..validation import IPAddr, Name

__all__ = ["Announcement"]


def _vip(v: Any) -> Any:
    s = str(v)
    if "/" in s:
        addr, _, plen = s.partition("/")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise ValueError("is not an IP address") from None
        if plen != str(ip.max_prefixlen):
            raise ValueError("must be a single address (no prefix length)")
        return addr
    return v


def _ipv4_prefix(v: str) -> str | None:
    """An IPv4 prefix in normal form, checked without ipaddress, which dominated validating a large `apply`.
    None when `v` is anything else; the slow path then decides and words the error."""
    addr, sep, plen = v.partition("/")
    if not sep or not plen.isascii() or not plen.isdigit() or len(plen) > 2:
        return None
    try:
        # inet_pton takes only canonical dotted quads (no leading zeros, no short forms), as ipaddress does
        packed = socket.inet_pton(socket.AF_INET, addr)
    except OSError:
        return None
    n = int(plen)
    if n > 32 or int.from_bytes(packed, "big") & ((1 << (32 - n)) - 1):
        return None
    return f"{addr}/{n}"


class Announcement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    vip: IPAddr | None = None
    route: str | None = None
    health_check: HealthCheck | None = None
    # default_factory: a literal [] default is deep-copied for every instance (10k in one apply)
    communities: list[Community] = Field(default_factory=list)
    large_communities: list[LargeCommunity] = Field(default_factory=list)
    med: Annotated[int, Field(ge=0, le=4294967295)] | None = None
    next_hop: IPAddr | None = None
    enabled: bool = True

    @field_validator("vip", mode="before")
    @classmethod
    def _single(cls, v: Any) -> Any:
        return None if v is None else _vip(v)

    @field_validator("route")
    @classmethod
    def _route(cls, v: str | None) -> str | None:
        if v is None:
            return v
        fast = _ipv4_prefix(v)
        if fast is not None:
            return fast
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as e:
            if "host bits set" in str(e):
                raise ValueError("has host bits set (the prefix is not its network address)") from None
            raise ValueError("is not a valid prefix") from None
        if "/" not in v:
            raise ValueError("needs a prefix length (e.g. 192.168.1.0/24)")
        return str(net)

    @model_validator(mode="after")
    def _kind(self) -> Announcement:
        if (self.vip is None) == (self.route is None):
            raise ValueError("set exactly one of `vip` or `route`")
        if self.vip is not None and self.health_check is None:
            raise ValueError("a vip needs a health_check (use `route` for an unconditional prefix)")
        if self.next_hop is not None and self.next_hop.version != self.network.version:
            raise ValueError(f"next_hop {self.next_hop} is not of the prefix's address family")
        return self

    @property
    def kind(self) -> str:
        return "vip" if self.vip is not None else "route"

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if self.vip is not None:
            return ipaddress.ip_network(self.vip)
        assert self.route is not None
        return ipaddress.ip_network(self.route)

    @property
    def prefix(self) -> str:
        # Hot: desired() and validation read it for every announcement on every pass (10k routes), and
        # both fields are already normal form (the route validator returns str(network)).
        if self.vip is not None:
            return f"{self.vip}/{self.vip.max_prefixlen}"
        assert self.route is not None
        return self.route

    def path_spec(self, tagging: bool) -> PathSpec:
        """The BGP path this announcement makes; `tagging` adds GRACEFUL_SHUTDOWN (drain, RFC 8326)."""
        return self._tagged_spec if tagging else self._plain_spec

    # Built once per (immutable) announcement, not on every controller pass.
    @functools.cached_property
    def _plain_spec(self) -> PathSpec:
        return PathSpec(
            prefix=self.prefix,
            next_hop=str(self.next_hop) if self.next_hop else None,
            communities=tuple(self.communities),
            large_communities=tuple(self.large_communities),
            med=self.med,
            owner=self.name,
        )

    @functools.cached_property
    def _tagged_spec(self) -> PathSpec:
        plain = self._plain_spec
        if "graceful-shutdown" in plain.communities:
            return plain
        return dataclasses.replace(plain, communities=(*plain.communities, "graceful-shutdown"))
