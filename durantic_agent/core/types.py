"""Value types shared by every layer: what the agent wants announced and peered, what gobgpd says is
best, what the kernel holds, and one decoded RIB path. Plain frozen dataclasses, no I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Literal

from .community import NAMES_BY_VALUE
from .prefix import canonical_address, parse_prefix

__all__ = [
    "LLGR_STALE",
    "MAIN_TABLE",
    "NO_SESSION",
    "WELL_KNOWN_COMMUNITIES",
    "BestPath",
    "Family",
    "MemberRef",
    "Origin",
    "PathSpec",
    "PeerSpec",
    "RibPath",
    "Route",
]

MAIN_TABLE = 254
WELL_KNOWN_COMMUNITIES = NAMES_BY_VALUE  # value -> name
LLGR_STALE = "llgr-stale"
NO_SESSION = "-"  # the state of a mesh member this machine has no BGP session with (route servers between)
Origin = Literal["igp", "egp", "incomplete"]
Family = Literal["ipv4", "ipv6"]


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
    max_prefixes: int | None = None  # per address family; more closes the session with a Cease
    bfd_interval_us: int | None = None  # BFD transmit/receive interval; None = BFD off
    bfd_multiplier: int = 3
    route_server_client: bool = False  # a route server's session: the peer's paths go unchanged to the others
    import_policies: tuple[str, ...] = ()  # a route-server client's own import policies (PolicyProgram names)
    import_policies_version: str = ""  # digest of those policies' content: a change re-makes the session

    def fingerprint(self) -> str:
        """Stored in the gobgpd peer's description, so a restarted agent can tell changed peers apart."""
        # fields added later are left out at their default: sessions marked before they existed keep their mark
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if not (f.name in _LATER_FIELDS and getattr(self, f.name) == f.default)
        ]
        return hashlib.sha256(f"PeerSpec({', '.join(parts)})".encode()).hexdigest()[:16]


_LATER_FIELDS = frozenset({"route_server_client", "import_policies", "import_policies_version"})


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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Route:
    dst: str
    dev: str | None = None
    gateway: str | None = None
    table: int = MAIN_TABLE

    def __post_init__(self) -> None:
        object.__setattr__(self, "dst", parse_prefix(self.dst).text)
        if self.gateway is not None:
            object.__setattr__(self, "gateway", canonical_address(self.gateway))


@dataclass(frozen=True, slots=True)
class RibPath:
    prefix: str
    next_hop: str
    as_path: tuple[int, ...]  # AS_SEQUENCE and AS_SET members in order; confederation segments left out
    as_path_len: int  # best-path length: an AS_SET counts 1, confederation segments 0
    origin: Origin
    med: int | None
    local_pref: int | None
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    neighbor_ip: str | None = None  # None = originated on this machine
    source_asn: int = 0
    source_id: str = ""
    age: int = 0  # unix seconds when gobgpd received (or was given) the path
    best: bool = False
    stale: bool = False
    is_withdraw: bool = False
    filtered: bool = False
    family: Family = "ipv4"
    nexthop_invalid: bool = False
    first_as: int = 0  # first non-confederation AS (0 = none): MED is compared only within one neighbour AS

    @property
    def is_local(self) -> bool:
        return self.neighbor_ip is None

    @property
    def llgr_stale(self) -> bool:
        return LLGR_STALE in self.communities
