"""GoBGP API paths -> RibPath. Hot path: `durantic rib --json` decodes the whole table through here.

Speed matters (100k routes must decode in well under a second or two), so paths are read as their raw
mirrors (gobgp/raw.py: each attribute stays its serialized `Attribute` bytes) and each distinct attribute
is parsed once, through a cache keyed on those bytes, with no dict/JSON conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.types import WELL_KNOWN_COMMUNITIES, RibPath
from . import raw
from .pb import attr, common, nlri

__all__ = ["decode_destination", "decode_path", "nlri_prefix"]

_ORIGINS = ("igp", "egp", "incomplete")
_SET = attr.AsSegment.TYPE_AS_SET
_SEQ = attr.AsSegment.TYPE_AS_SEQUENCE
_V6 = common.Family.AFI_IP6


_CACHE_MAX = 16384


def _origin(a: Any) -> str:
    o = a.origin.origin
    return _ORIGINS[o] if o < 3 else "incomplete"


def _as_path(a: Any) -> tuple[tuple[int, ...], int, int]:
    flat: list[int] = []
    length = 0
    first = 0
    for seg in a.as_path.segments:
        t = seg.type
        if t == _SEQ:
            nums = list(seg.numbers)
            length += len(nums)
        elif t == _SET:
            nums = list(seg.numbers)
            length += 1
        else:
            continue  # confederation segments: not counted, not a neighbour AS
        flat.extend(nums)
        if not first and nums:
            first = nums[0]
    return tuple(flat), length, first


def _next_hop(a: Any) -> str:
    return str(a.next_hop.next_hop)


def _mp_reach(a: Any) -> str:
    hops = a.mp_reach.next_hops
    return str(hops[0]) if hops else ""  # [global, link-local] for IPv6: the global one routes


def _med(a: Any) -> int:
    return int(a.multi_exit_disc.med)


def _local_pref(a: Any) -> int:
    return int(a.local_pref.local_pref)


def _communities(a: Any) -> tuple[str, ...]:
    known = WELL_KNOWN_COMMUNITIES
    return tuple(known.get(c) or f"{c >> 16}:{c & 0xFFFF}" for c in a.communities.communities)


def _large(a: Any) -> tuple[str, ...]:
    return tuple(f"{c.global_admin}:{c.local_data1}:{c.local_data2}" for c in a.large_communities.communities)


# Slots of the scratch list in decode_path.
_NH, _ASP, _ORG, _MED, _LP, _COM, _LCOM = range(7)
_EMPTY_AS: tuple[tuple[int, ...], int, int] = ((), 0, 0)

# Attribute oneof name -> (slot, parser)
_KINDS: dict[str, tuple[int, Callable[[Any], Any]]] = {
    "next_hop": (_NH, _next_hop),
    "mp_reach": (_NH, _mp_reach),
    "as_path": (_ASP, _as_path),
    "origin": (_ORG, _origin),
    "multi_exit_disc": (_MED, _med),
    "local_pref": (_LP, _local_pref),
    "communities": (_COM, _communities),
    "large_communities": (_LCOM, _large),
}
# serialized Attribute -> (slot, parsed value), or None for an attribute the RIB view does not show
_cache: dict[bytes, tuple[int, Any] | None] = {}


def _parse_attr(b: bytes) -> tuple[int, Any] | None:
    a = attr.Attribute.FromString(b)
    kind = a.WhichOneof("attr")
    ent = _KINDS.get(kind) if kind else None
    if ent is None:
        return None
    slot, parse = ent
    return slot, parse(a)


def nlri_prefix(b: bytes) -> str:
    """A serialized NLRI as "address/length" ("" for anything but a unicast prefix)."""
    n = nlri.NLRI.FromString(b)
    if n.WhichOneof("nlri") == "prefix":
        ip = n.prefix
        return f"{ip.prefix}/{ip.prefix_len}"
    return ""


def decode_path(p: Any, prefix: str | None = None) -> RibPath:
    """One path: a raw mirror (gobgp/raw.py) or a typed `api.Path`. `prefix` (from the Destination) saves
    re-parsing the NLRI."""
    if not isinstance(p, raw.Path):
        p = raw.as_raw_path(p)
    slots: list[Any] = ["", _EMPTY_AS, "igp", None, None, (), ()]
    cache = _cache
    for b in p.pattrs:
        try:
            r = cache[b]
        except KeyError:
            r = _parse_attr(b)
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[b] = r
        if r is not None:
            slots[r[0]] = r[1]
    nip = p.neighbor_ip
    if prefix is None:
        prefix = nlri_prefix(p.nlri)
    afi = p.family.afi
    as_path, as_path_len, first_as = slots[_ASP]
    return RibPath(
        prefix=prefix,
        next_hop=slots[_NH],
        as_path=as_path,
        as_path_len=as_path_len,
        origin=slots[_ORG],
        med=slots[_MED],
        local_pref=slots[_LP],
        communities=slots[_COM],
        large_communities=slots[_LCOM],
        neighbor_ip=None if (not nip or nip == "<nil>") else nip,
        source_asn=p.source_asn,
        source_id=p.source_id,
        age=p.age.seconds,
        best=p.best,
        stale=p.stale,
        is_withdraw=p.is_withdraw,
        filtered=p.filtered,
        family="ipv6" if afi == _V6 or (afi == 0 and ":" in prefix) else "ipv4",
        nexthop_invalid=p.is_nexthop_invalid,
        first_as=first_as,
    )


def decode_destination(d: Any) -> list[RibPath]:
    """A Destination (ListPath item, raw mirror or typed): its paths in gobgpd's order, best first."""
    prefix = d.prefix
    return [decode_path(p, prefix) for p in d.paths]
