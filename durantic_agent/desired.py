"""desired(): a pure function from config + objects + health + facts to what gobgpd and the kernel should hold.

Tests call it with plain values. The empty result means "withdraw everything".
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .config.schema import AgentConfig
from .objects.announcement import Announcement
from .objects.document import ObjectsState

__all__ = [
    "MESH_ADDRESS_COMMUNITY",
    "Desired",
    "DrainPhase",
    "PathSpec",
    "PeerSpec",
    "desired",
    "desired_peers",
]

# Every agent tags its own mesh address /32 with this community, so relays and views can tell a member's
# mesh address from any other prefix (65534 is a private ASN, so this cannot collide with a real one).
MESH_ADDRESS_COMMUNITY = "65534:1"


class DrainPhase(StrEnum):
    NONE = "none"
    TAGGING = "tagging"  # announced with GRACEFUL_SHUTDOWN so peers move away first (RFC 8326)
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class PeerSpec:
    name: str
    address: str
    asn: int
    kind: str  # "neighbor" | "member"
    port: int = 179
    local_address: str | None = None
    bind_interface: str | None = None
    password: str | None = None
    multihop_ttl: int | None = None
    passive: bool = False
    hold_time: int = 9
    keepalive: int = 3
    connect_retry: int = 5
    graceful_restart: bool = True
    restart_time: int = 40
    deferral_time: int = 5

    def fingerprint(self) -> str:
        """Stored in the gobgpd peer's description, so a restarted agent can tell changed peers apart."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PathSpec:
    prefix: str
    next_hop: str | None = None
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    med: int | None = None
    owner: str = ""  # announcement name, or "mesh:<name>" for the own mesh address

    def attrs(self) -> tuple[object, ...]:
        return (self.next_hop, self.communities, self.large_communities, self.med)


@dataclass(frozen=True)
class Desired:
    peers: Mapping[str, PeerSpec] = field(default_factory=dict)
    paths: Mapping[str, PathSpec] = field(default_factory=dict)
    vips: frozenset[str] = frozenset()


def desired_peers(cfg: AgentConfig, passwords: Mapping[str, str]) -> dict[str, PeerSpec]:
    b = cfg.bgp
    timers = {
        "hold_time": b.hold_time,
        "keepalive": b.keepalive,
        "connect_retry": b.connect_retry,
        "graceful_restart": b.graceful_restart,
        "restart_time": b.restart_time,
        "deferral_time": b.deferral_time,
    }
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
            **timers,  # type: ignore[arg-type]
        )
    for mesh in cfg.meshes:
        for m in mesh.members or []:
            if m.address == mesh.address.ip:
                continue  # this machine
            peers[str(m.address)] = PeerSpec(
                name=m.name,
                address=str(m.address),
                asn=m.asn,
                kind="member",
                local_address=str(mesh.address.ip),
                bind_interface=mesh.ifname,
                # Mesh sessions may ride a relay (transit): one forwarding hop costs one TTL.
                multihop_ttl=3,
                **timers,  # type: ignore[arg-type]
            )
    return peers


# id(announcement) -> (announcement, drain tagging, its PathSpec) from the last call. An announcement is
# immutable, so its PathSpec is built once instead of on every pass (10k routes: 22 ms a pass); holding
# the announcement makes the id safe, and each call keeps only what it used.
_built_specs: dict[int, tuple[Announcement, bool, PathSpec]] = {}


def _path_spec(a: Announcement, tagging: bool) -> PathSpec:
    comms = list(a.communities)
    if tagging and "graceful-shutdown" not in comms:
        comms.append("graceful-shutdown")
    return PathSpec(
        prefix=a.prefix,
        next_hop=str(a.next_hop) if a.next_hop else None,
        communities=tuple(comms),
        large_communities=tuple(a.large_communities),
        med=a.med,
        owner=a.name,
    )


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
    built, reused = _built_specs, {}
    for a in objects.announcements:
        if a.vip is not None:
            vips.add(str(a.vip))
        if stopping or not a.enabled or drain is DrainPhase.WITHDRAWN:
            continue
        if a.health_check is not None and not passing(a.name):
            continue
        hit = built.get(id(a))
        spec = hit[2] if hit is not None and hit[0] is a and hit[1] is tagging else _path_spec(a, tagging)
        reused[id(a)] = (a, tagging, spec)
        paths[spec.prefix] = spec
    _built_specs.clear()
    _built_specs.update(reused)
    if not stopping:
        for mesh in cfg.meshes:
            ip = mesh.address.ip
            own = str(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"))
            paths.setdefault(
                own, PathSpec(prefix=own, communities=(MESH_ADDRESS_COMMUNITY,), owner=f"mesh:{mesh.name}")
            )
    return Desired(peers=peers, paths=paths, vips=frozenset(vips))
