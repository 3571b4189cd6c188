"""The overlay FIB as a pure function: best paths -> kernel routes + WireGuard AllowedIPs.

WireGuard routes by the inner destination, so the kernel's next hop does not pick the peer: AllowedIPs
do. For each best path whose next hop N is a member's mesh address, the prefix goes into the AllowedIPs
of the peer that carries N (the member itself while it is Direct; a relay otherwise, see `carriers`).
A kernel route sends the prefix into the mesh interface. Paths from external neighbours go to the
kernel via their next hop. Never installed: own local paths, own addresses, anything inside a mesh
prefix (the connected route covers it), and the configured deny list.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .config.schema import AgentConfig
from .netlink.routes import Route

__all__ = ["BestPath", "Fib", "MemberRef", "desired_fib", "mesh_members"]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class BestPath:
    prefix: str
    next_hop: str
    local: bool  # originated by this machine (AddPath): never installed


@dataclass(frozen=True)
class MemberRef:
    mesh: str
    ifname: str
    name: str
    address: str
    public_key: str


@dataclass(frozen=True)
class Fib:
    routes: dict[str, Route] = field(default_factory=dict)
    # ifname -> public key -> allowed IPs
    allowed: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # prefixes we hold a best path for but cannot reach (next hop not a member and not on a link)
    unreachable: set[str] = field(default_factory=set)


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


def desired_fib(
    cfg: AgentConfig,
    best: Iterable[BestPath],
    members: Mapping[str, MemberRef],
    carriers: Mapping[str, str] | None = None,
) -> Fib:
    """`carriers` maps a member's mesh address to the address of the member that carries its traffic
    (itself when Direct, a relay otherwise; a missing entry means Direct)."""
    carriers = carriers or {}
    mesh_nets: list[Net] = [m.address.network for m in cfg.meshes]
    own = {str(m.address.ip) for m in cfg.meshes}
    deny: list[Net] = list(cfg.fib.deny)
    allowed: dict[str, dict[str, set[str]]] = {m.ifname: {} for m in cfg.meshes}
    for addr, ref in members.items():
        carrier = members.get(carriers.get(addr, addr), ref)
        allowed[ref.ifname].setdefault(ref.public_key, set())
        allowed[carrier.ifname].setdefault(carrier.public_key, set()).add(_host(addr))
    routes: dict[str, Route] = {}
    unreachable: set[str] = set()
    # Classifying a prefix parses it (ipaddress is slow): memoised per prefix and context, so a pass over
    # 50k-100k unchanged best paths costs dict lookups, not parsing (the controller recomputes on every wake).
    ctx = (tuple(str(n) for n in deny), tuple(str(n) for n in mesh_nets), frozenset(own))
    for p in best:
        if p.local:
            continue
        skip, inside_mesh, host = _classify(p.prefix, ctx)
        if skip:
            continue
        nh_ref = members.get(p.next_hop)
        if nh_ref is not None:
            if inside_mesh and host is not None and host in members:
                continue  # a member's own mesh address: already placed above, with its carrier
            via = members.get(carriers.get(p.next_hop, p.next_hop)) or nh_ref
            allowed[via.ifname].setdefault(via.public_key, set()).add(p.prefix)
            if not inside_mesh:
                routes[p.prefix] = _route(p.prefix, nh_ref.ifname, None)
        elif not inside_mesh:
            if p.next_hop in ("", "0.0.0.0", "::"):
                unreachable.add(p.prefix)
            else:
                routes[p.prefix] = _route(p.prefix, None, p.next_hop)
    return Fib(routes=routes, allowed=allowed, unreachable=unreachable)


@functools.lru_cache(maxsize=1 << 18)
def _classify(
    prefix: str, ctx: tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]
) -> tuple[bool, bool, str | None]:
    """(never installed, inside a mesh prefix, the address if the prefix is a single host)."""
    deny_s, mesh_s, own = ctx
    net = ipaddress.ip_network(prefix)
    host = str(net.network_address) if net.num_addresses == 1 else None
    if any(net.version == o.version and net.subnet_of(o) for o in map(ipaddress.ip_network, deny_s)):  # type: ignore[arg-type]
        return True, False, host
    if host is not None and host in own:
        return True, False, host
    inside = any(net.version == m.version and net.subnet_of(m) for m in map(ipaddress.ip_network, mesh_s))  # type: ignore[arg-type]
    return False, inside, host


@functools.lru_cache(maxsize=1 << 18)
def _route(prefix: str, dev: str | None, gateway: str | None) -> Route:
    return Route(prefix, dev=dev, gateway=gateway)  # frozen: one shared instance per distinct route
