"""GoBGP API paths -> RibPath. Hot path: `durantic rib --json` decodes the whole table through here.

Speed matters (100k routes must decode in well under a second or two), so attributes are dispatched on
the Any type URL and parsed with `FromString` directly, skipping Any.Unpack's type checks and any
dict/JSON conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.types import WELL_KNOWN_COMMUNITIES, RibPath
from .pb import api, attr

__all__ = ["decode_destination", "decode_path"]

_ORIGINS = ("igp", "egp", "incomplete")
_SET = attr.AsSegment.AS_SET
_SEQ = attr.AsSegment.AS_SEQUENCE
_URL = "type.googleapis.com/apipb."
_V6 = api.Family.AFI_IP6


_MISS: Any = object()
_CACHE_MAX = 16384


def _origin(raw: bytes) -> str:
    o = attr.OriginAttribute.FromString(raw).origin
    return _ORIGINS[o] if o < 3 else "incomplete"


def _as_path(raw: bytes) -> tuple[tuple[int, ...], int, int]:
    flat: list[int] = []
    length = 0
    first = 0
    for seg in attr.AsPathAttribute.FromString(raw).segments:
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


def _next_hop(raw: bytes) -> str:
    return str(attr.NextHopAttribute.FromString(raw).next_hop)


def _mp_reach(raw: bytes) -> str:
    hops = attr.MpReachNLRIAttribute.FromString(raw).next_hops
    return str(hops[0]) if hops else ""  # [global, link-local] for IPv6: the global one routes


def _med(raw: bytes) -> int:
    return int(attr.MultiExitDiscAttribute.FromString(raw).med)


def _local_pref(raw: bytes) -> int:
    return int(attr.LocalPrefAttribute.FromString(raw).local_pref)


def _communities(raw: bytes) -> tuple[str, ...]:
    known = WELL_KNOWN_COMMUNITIES
    return tuple(
        known.get(c) or f"{c >> 16}:{c & 0xFFFF}" for c in attr.CommunitiesAttribute.FromString(raw).communities
    )


def _large(raw: bytes) -> tuple[str, ...]:
    return tuple(
        f"{c.global_admin}:{c.local_data1}:{c.local_data2}"
        for c in attr.LargeCommunitiesAttribute.FromString(raw).communities
    )


# Slots of the scratch list in decode_path.
_NH, _ASP, _ORG, _MED, _LP, _COM, _LCOM = range(7)
_EMPTY_AS: tuple[tuple[int, ...], int, int] = ((), 0, 0)

# type URL -> (slot, cache of raw value -> parsed, parser). A table's attributes repeat a lot (a few
# peers, next hops, community sets), so most attributes are a dict hit on their wire bytes.
_TYPES: dict[str, tuple[int, dict[bytes, Any], Callable[[bytes], Any]]] = {
    _URL + "NextHopAttribute": (_NH, {}, _next_hop),
    _URL + "MpReachNLRIAttribute": (_NH, {}, _mp_reach),
    _URL + "AsPathAttribute": (_ASP, {}, _as_path),
    _URL + "OriginAttribute": (_ORG, {}, _origin),
    _URL + "MultiExitDiscAttribute": (_MED, {}, _med),
    _URL + "LocalPrefAttribute": (_LP, {}, _local_pref),
    _URL + "CommunitiesAttribute": (_COM, {}, _communities),
    _URL + "LargeCommunitiesAttribute": (_LCOM, {}, _large),
}
_PREFIX_URL = _URL + "IPAddressPrefix"


def _nlri_prefix(p: Any) -> str:
    n = p.nlri
    if n.type_url == _PREFIX_URL:
        ip = attr.IPAddressPrefix.FromString(n.value)
        return f"{ip.prefix}/{ip.prefix_len}"
    return ""


def decode_path(p: Any, prefix: str | None = None) -> RibPath:
    """One `api.Path`. `prefix` (from the Destination) saves re-parsing the NLRI."""
    slots: list[Any] = ["", _EMPTY_AS, "igp", None, None, (), ()]
    types = _TYPES
    for a in p.pattrs:
        ent = types.get(a.type_url)
        if ent is None:
            continue
        slot, cache, parse = ent
        v = a.value
        r = cache.get(v, _MISS)
        if r is _MISS:
            r = parse(v)
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[v] = r
        slots[slot] = r
    nip = p.neighbor_ip
    if prefix is None:
        prefix = _nlri_prefix(p)
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
    """An `api.Destination` (ListPath item): its paths in gobgpd's order, best first."""
    prefix = d.prefix
    return [decode_path(p, prefix) for p in d.paths]
