"""The overlay FIB as a pure function: best paths -> kernel routes + WireGuard AllowedIPs.

WireGuard routes by the inner destination, so the kernel's next hop does not pick the peer: AllowedIPs
do. For each best path whose next hop N is a member's mesh address, the prefix goes into the AllowedIPs
of the peer that carries N (the member itself while it is Direct; a relay otherwise, see `carriers`).
A kernel route sends the prefix into the mesh interface. Paths from external neighbours go to the
kernel via their next hop. Never installed: own local paths, own addresses, anything inside a mesh
prefix (the connected route covers it), IPv6 link-local prefixes, and the configured deny list. Each
member's probe address (core/probe.py) is in its own peer's AllowedIPs, always.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .config.schema import AgentConfig
from .core.prefix import parse_prefix
from .core.probe import probe_host
from .core.types import BestPath, MemberRef, Route

__all__ = ["Fib", "FibDelta", "desired_fib", "diff_fib", "mesh_members", "update_fib"]


@dataclass(frozen=True)
class Fib:
    routes: dict[str, Route] = field(default_factory=dict)
    # ifname -> public key -> allowed IPs
    allowed: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # prefixes we hold a best path for but cannot reach (next hop not a member and not on a link)
    unreachable: set[str] = field(default_factory=set)
    # prefix of a best path -> (ifname, public key) whose AllowedIPs hold it (members' own hosts not included)
    owner: dict[str, tuple[str, str]] = field(default_factory=dict)


def mesh_members(cfg: AgentConfig, own_public_keys: Mapping[str, str]) -> dict[str, MemberRef]:
    """Mesh address -> member, for every mesh, leaving this machine out (recognised by its key)."""
    out: dict[str, MemberRef] = {}
    for mesh in cfg.meshes:
        mine = own_public_keys.get(mesh.name)
        for m in mesh.members or []:
            if m.public_key == mine or m.address == mesh.address.ip:
                continue
            out[str(m.address)] = MemberRef(mesh.name, mesh.ifname, m.name, str(m.address), m.public_key)
    return out


def _host(addr: str) -> str:
    ip = ipaddress.ip_address(addr)
    return f"{ip}/{ip.max_prefixlen}"


def _member_hosts(members: Mapping[str, MemberRef], carriers: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Host prefix of each member -> (ifname, public key) of the peer that carries it."""
    out: dict[str, tuple[str, str]] = {}
    for addr, ref in members.items():
        carrier = members.get(carriers.get(addr, addr), ref)
        out[_host(addr)] = (carrier.ifname, carrier.public_key)
    return out


_Ctx = tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]


def _context(cfg: AgentConfig) -> _Ctx:
    return (
        tuple(str(n) for n in cfg.fib.deny),
        tuple(str(m.address.network) for m in cfg.meshes),
        frozenset(str(m.address.ip) for m in cfg.meshes),
    )


# What one best path puts in the FIB: (kernel route, (ifname, public key) whose AllowedIPs hold it, unreachable).
_Entry = tuple[Route | None, tuple[str, str] | None, bool]
_NOTHING: _Entry = (None, None, False)


def _entry(p: BestPath, ctx: _Ctx, members: Mapping[str, MemberRef], carriers: Mapping[str, str]) -> _Entry:
    if p.local:
        return _NOTHING
    skip, inside_mesh, host = _classify(p.prefix, ctx)
    if skip:
        return _NOTHING
    nh_ref = members.get(p.next_hop)
    if nh_ref is not None:
        if inside_mesh and host is not None and host in members:
            return _NOTHING  # a member's own mesh address: placed with its carrier by _member_hosts
        via = members.get(carriers.get(p.next_hop, p.next_hop)) or nh_ref
        return (None if inside_mesh else _route(p.prefix, nh_ref.ifname, None)), (via.ifname, via.public_key), False
    if inside_mesh:
        return _NOTHING
    if p.next_hop in ("", "0.0.0.0", "::"):
        return None, None, True
    return _route(p.prefix, None, p.next_hop), None, False


def desired_fib(
    cfg: AgentConfig,
    best: Iterable[BestPath],
    members: Mapping[str, MemberRef],
    carriers: Mapping[str, str] | None = None,
) -> Fib:
    """`carriers` maps a member's mesh address to the address of the member that carries its traffic
    (itself when Direct, a relay otherwise; a missing entry means Direct)."""
    carriers = carriers or {}
    allowed: dict[str, dict[str, set[str]]] = {m.ifname: {} for m in cfg.meshes}
    for ref in members.values():
        # the probe address stays on the member's own peer, whoever carries its mesh address
        allowed[ref.ifname].setdefault(ref.public_key, set()).add(probe_host(ref.address))
    for host, (ifname, key) in _member_hosts(members, carriers).items():
        allowed[ifname].setdefault(key, set()).add(host)
    routes: dict[str, Route] = {}
    unreachable: set[str] = set()
    owner: dict[str, tuple[str, str]] = {}
    # Classifying a prefix parses it: memoised per prefix and context, so a pass over 50k-100k unchanged
    # best paths costs dict lookups, not parsing.
    ctx = _context(cfg)
    for p in best:
        route, via, unreach = _entry(p, ctx, members, carriers)
        if route is not None:
            routes[p.prefix] = route
        if via is not None:
            allowed[via[0]].setdefault(via[1], set()).add(p.prefix)
            owner[p.prefix] = via
        if unreach:
            unreachable.add(p.prefix)
    return Fib(routes=routes, allowed=allowed, unreachable=unreachable, owner=owner)


@dataclass(frozen=True)
class FibDelta:
    """What differs between two FIBs: kernel destinations and WireGuard peers (ifname, public key) to revisit.
    `peers` None: every peer."""

    routes: set[str] = field(default_factory=set)
    peers: set[tuple[str, str]] | None = field(default_factory=set)


def diff_fib(old: Fib, new: Fib) -> FibDelta:
    """Destinations whose kernel route differs, and peers whose AllowedIPs differ (O(table))."""
    routes = {d for d, r in new.routes.items() if (was := old.routes.get(d)) is not r and was != r}
    routes.update(d for d in old.routes if d not in new.routes)
    peers: set[tuple[str, str]] = set()
    for ifname in old.allowed.keys() | new.allowed.keys():
        before, after = old.allowed.get(ifname, {}), new.allowed.get(ifname, {})
        peers.update((ifname, k) for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return FibDelta(routes, peers)


def update_fib(
    fib: Fib,
    cfg: AgentConfig,
    changed: Mapping[str, BestPath | None],
    members: Mapping[str, MemberRef],
    carriers: Mapping[str, str] | None = None,
) -> tuple[Fib, FibDelta]:
    """`fib` (made by desired_fib with the same cfg, members and carriers) after some best paths changed
    (prefix -> new best path, None when withdrawn). Equal to desired_fib over the new best paths, at a cost
    proportional to the changes (plus one C-level copy of the route table); `fib` itself is not modified."""
    carriers = carriers or {}
    ctx = _context(cfg)
    hosts = _member_hosts(members, carriers)
    routes = dict(fib.routes)
    owner = dict(fib.owner)
    unreachable = set(fib.unreachable)
    allowed = {ifname: dict(per) for ifname, per in fib.allowed.items()}
    copied: set[tuple[str, str]] = set()  # peer sets copied on first write, so `fib` stays as it was
    delta = FibDelta()
    assert delta.peers is not None

    def peer_set(via: tuple[str, str]) -> set[str]:
        per = allowed.setdefault(via[0], {})
        if via not in copied:
            per[via[1]] = set(per.get(via[1], ()))
            copied.add(via)
            delta.peers.add(via)  # type: ignore[union-attr]
        return per[via[1]]

    for prefix, p in changed.items():
        route, via, unreach = _entry(p, ctx, members, carriers) if p is not None else _NOTHING
        if routes.get(prefix) is not route:
            if route is None:
                del routes[prefix]
            else:
                routes[prefix] = route
            delta.routes.add(prefix)
        old_via = owner.get(prefix)
        if old_via != via:
            if old_via is not None:
                del owner[prefix]
                if hosts.get(prefix) != old_via:  # a member's host stays where _member_hosts put it
                    peer_set(old_via).discard(prefix)
            if via is not None:
                owner[prefix] = via
                peer_set(via).add(prefix)
        if unreach:
            unreachable.add(prefix)
        else:
            unreachable.discard(prefix)
    return Fib(routes=routes, allowed=allowed, unreachable=unreachable, owner=owner), delta


_Class = tuple[bool, bool, str | None]
_Nets = tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]
_CLASS_MAX = 1 << 18
# context -> prefix -> classification. Keyed per context rather than by (prefix, ctx) in one lru_cache:
# hashing the nested context tuple on every lookup would be a large part of a pass over 50k new prefixes.
_classes: dict[_Ctx, dict[str, _Class]] = {}


@functools.lru_cache(maxsize=64)
def _nets(ctx: _Ctx) -> _Nets:
    """(version, prefix length, value) of the deny list and the mesh prefixes."""

    def key(text: str) -> tuple[int, int, int]:
        n = parse_prefix(text)
        return n.version, n.prefixlen, n.value

    return tuple(key(o) for o in ctx[0]), tuple(key(m) for m in ctx[1])


def _classify(prefix: str, ctx: _Ctx) -> _Class:
    """(never installed, inside a mesh prefix, the address if the prefix is a single host)."""
    cache = _classes.get(ctx)
    if cache is None:
        _classes.clear()  # one context at a time in practice: a config change replaces it
        cache = _classes[ctx] = {}
    r = cache.get(prefix)
    if r is None:
        if len(cache) >= _CLASS_MAX:
            cache.clear()
        r = cache[prefix] = _classify_new(prefix, ctx)
    return r


def _within(version: int, plen: int, value: int, nets: tuple[tuple[int, int, int], ...]) -> bool:
    bits = 32 if version == 4 else 128
    for v, n, val in nets:  # noqa: SIM110 - any() over a generator costs more, once per new prefix
        if v == version and plen >= n and value >> (bits - n) == val >> (bits - n):
            return True
    return False


def _classify_new(prefix: str, ctx: _Ctx) -> _Class:
    net = parse_prefix(prefix)
    version, plen, value = net.version, net.prefixlen, net.value
    host = net.text.partition("/")[0] if plen == (32 if version == 4 else 128) else None
    deny, mesh = _nets(ctx)
    if deny and _within(version, plen, value, deny):
        return True, False, host
    if version == 6 and value >> 118 == 0x3FA:  # fe80::/10: link-local, the members' probe addresses among it
        return True, False, host
    if host is not None and host in ctx[2]:
        return True, False, host
    return False, bool(mesh) and _within(version, plen, value, mesh), host


@functools.lru_cache(maxsize=1 << 18)
def _route(prefix: str, dev: str | None, gateway: str | None) -> Route:
    return Route(prefix, dev=dev, gateway=gateway)  # frozen: one shared instance per distinct route
