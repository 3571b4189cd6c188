"""desired(): a pure function from config + objects + health + facts to what gobgpd and the kernel should hold.

Tests call it with plain values. The empty result means "withdraw everything".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .config.schema import AgentConfig
from .core.types import PathSpec, PeerSpec
from .objects.document import ObjectsState
from .topology import RouteServerSpec, mesh_peers, route_server

__all__ = [
    "MESH_ADDRESS_COMMUNITY",
    "Desired",
    "DrainPhase",
    "desired",
    "desired_peers",
    "desired_route_servers",
]

# Every agent tags its own mesh address /32 with this community, so relays and views can tell a member's
# mesh address from any other prefix (65534 is a private ASN, so this cannot collide with a real one).
MESH_ADDRESS_COMMUNITY = "65534:1"


class DrainPhase(StrEnum):
    NONE = "none"
    TAGGING = "tagging"  # announced with GRACEFUL_SHUTDOWN so peers move away first (RFC 8326)
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Desired:
    peers: Mapping[str, PeerSpec] = field(default_factory=dict)
    paths: Mapping[str, PathSpec] = field(default_factory=dict)
    vips: frozenset[str] = frozenset()
    route_servers: Mapping[str, RouteServerSpec] = field(default_factory=dict)  # mesh name -> ours


def _timers(cfg: AgentConfig) -> dict[str, int | bool]:
    b = cfg.bgp
    return {
        "hold_time": b.hold_time,
        "keepalive": b.keepalive,
        "connect_retry": b.connect_retry,
        "graceful_restart": b.graceful_restart,
        "restart_time": b.restart_time,
        "deferral_time": b.deferral_time,
    }


def desired_route_servers(cfg: AgentConfig) -> dict[str, RouteServerSpec]:
    """The route-server gobgpd this machine runs, per mesh that names it a route server."""
    port = cfg.bgp.listen_port if cfg.bgp.listen_port > 0 else 179
    out = {}
    for mesh in cfg.meshes:
        rs = route_server(mesh, cfg.router_id, port, _timers(cfg))
        if rs is not None:
            out[mesh.name] = rs
    return out


def desired_peers(cfg: AgentConfig, passwords: Mapping[str, str]) -> dict[str, PeerSpec]:
    timers = _timers(cfg)
    peers: dict[str, PeerSpec] = {}
    for n in cfg.neighbors:
        peers[str(n.address)] = PeerSpec(
            name=n.name,
            address=str(n.address),
            asn=n.asn,
            kind="neighbor",
            port=n.port,
            local_address=str(n.local_address) if n.local_address else None,
            password=passwords.get(n.name),
            multihop_ttl=n.multihop,
            passive=n.passive,
            max_prefixes=n.max_prefixes,
            bfd_interval_us=round(n.bfd.interval * 1_000_000) if n.bfd else None,
            bfd_multiplier=n.bfd.multiplier if n.bfd else 3,
            **timers,  # type: ignore[arg-type]
        )
    for mesh in cfg.meshes:
        peers.update(mesh_peers(mesh, timers))
    return peers


def desired(
    cfg: AgentConfig,
    objects: ObjectsState,
    passing: Callable[[str], bool],
    drain: DrainPhase = DrainPhase.NONE,
    passwords: Mapping[str, str] | None = None,
    stopping: bool = False,
) -> Desired:
    peers = desired_peers(cfg, passwords or {})
    paths: dict[str, PathSpec] = {}
    vips: set[str] = set()
    tagging = drain is DrainPhase.TAGGING
    for a in objects.announcements:
        if a.vip is not None and not stopping:
            vips.add(str(a.vip))  # bound on lo whether or not announced; removed on a planned stop
        if stopping or not a.enabled or drain is DrainPhase.WITHDRAWN:
            continue
        if a.health_check is not None and not passing(a.name):
            continue
        spec = a.path_spec(tagging)
        paths[spec.prefix] = spec
    if not stopping:
        for mesh in cfg.meshes:
            ip = mesh.address.ip
            own = str(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"))
            paths.setdefault(
                own, PathSpec(prefix=own, communities=(MESH_ADDRESS_COMMUNITY,), owner=f"mesh:{mesh.name}")
            )
    return Desired(peers=peers, paths=paths, vips=frozenset(vips), route_servers=desired_route_servers(cfg))
