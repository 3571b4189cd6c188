"""The agent's own decoded form of one GoBGP path: plain values, no protobuf."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..community import NAMES_BY_VALUE, community_str

__all__ = ["LLGR_STALE", "WELL_KNOWN_COMMUNITIES", "RibPath", "community_str"]

Origin = Literal["igp", "egp", "incomplete"]
Family = Literal["ipv4", "ipv6"]

WELL_KNOWN_COMMUNITIES = NAMES_BY_VALUE  # value -> name
LLGR_STALE = "llgr-stale"


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
