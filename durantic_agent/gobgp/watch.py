"""WatchEvent(BEST, init=True): gobgpd's best paths as a stream of changes, for the overlay FIB.

The first event carries every current best path (and is sent even for an empty table). When the best
moves to another path only the new best arrives; a withdrawal arrives only when no path is left.
Empty events (a non-best path arriving, GR stale marking) are ignored.

Only prefix, next hop and origin (local or learned) are read: 50,000 paths arrive in one burst, and
the full `decode_path` (AS path, communities, ...) was a large part of the agent's time for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ..fib import BestPath
from .client import GobgpClient
from .pb import api, attr

__all__ = ["best_path", "watch_best"]

_URL = "type.googleapis.com/apipb."
_PREFIX_URL = _URL + "IPAddressPrefix"
_CACHE_MAX = 4096


def _next_hop(raw: bytes) -> str:
    return str(attr.NextHopAttribute.FromString(raw).next_hop)


def _mp_reach(raw: bytes) -> str:
    hops = attr.MpReachNLRIAttribute.FromString(raw).next_hops
    return str(hops[0]) if hops else ""  # [global, link-local] for IPv6: the global one routes


# type URL -> parser; next hops repeat (a few peers), so each distinct wire value is parsed once
_HOPS: dict[str, Callable[[bytes], str]] = {
    _URL + "NextHopAttribute": _next_hop,
    _URL + "MpReachNLRIAttribute": _mp_reach,
}
_hop_cache: dict[tuple[str, bytes], str] = {}


def best_path(p: Any) -> BestPath:
    """One `api.Path` as the FIB needs it."""
    n = p.nlri
    prefix = ""
    if n.type_url == _PREFIX_URL:
        ip = attr.IPAddressPrefix.FromString(n.value)
        prefix = f"{ip.prefix}/{ip.prefix_len}"
    next_hop = ""
    for a in p.pattrs:
        url = a.type_url
        parse = _HOPS.get(url)
        if parse is None:
            continue
        k = (url, a.value)
        hop = _hop_cache.get(k)
        if hop is None:
            if len(_hop_cache) >= _CACHE_MAX:
                _hop_cache.clear()
            hop = _hop_cache[k] = parse(a.value)
        next_hop = hop
    nip = p.neighbor_ip
    return BestPath(prefix, next_hop, not nip or nip == "<nil>")


async def watch_best(client: GobgpClient) -> AsyncIterator[tuple[bool, list[tuple[BestPath, bool]]]]:
    """Yields (is_init, [(path, withdrawn)]) per event."""
    req = api.WatchEventRequest(
        table=api.WatchEventRequest.Table(
            filters=[api.WatchEventRequest.Table.Filter(type=api.WatchEventRequest.Table.Filter.BEST, init=True)]
        )
    )
    first = True
    async for ev in client.stream("WatchEvent", req):
        if not ev.HasField("table"):
            continue
        out = [(best_path(p), p.is_withdraw) for p in ev.table.paths]
        if out or first:
            yield first, out
        first = False
