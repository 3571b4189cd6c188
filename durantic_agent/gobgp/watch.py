"""WatchEvent(BEST, init=True): gobgpd's best paths as a stream of changes, for the overlay FIB.

The first event carries every current best path (and is sent even for an empty table). When the best
moves to another path only the new best arrives; a withdrawal arrives only when no path is left.
Empty events (a non-best path arriving, GR stale marking) are ignored.

Only prefix, next hop and origin (local or learned) are read: 50,000 paths arrive in one burst, and
the full `decode_path` (AS path, communities, ...) was a large part of the agent's time for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc.aio

from ..fib import BestPath
from .client import GobgpClient, translate_rpc_error
from .pb import api, attr

__all__ = ["Backlog", "best_path", "watch_best"]

log = logging.getLogger("durantic.gobgp")

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


class Backlog:
    """Tells from the ages of arriving paths that the reader is far behind gobgpd.

    gobgpd sends one WatchEvent per path, and a reader that fell behind (a burst of 50,000 routes, a
    paused process) drains them at a few thousand a second; a fresh subscription with init=True carries
    the whole table in one message, ~5x cheaper at 50k. Behind = `threshold` paths in a row older than
    `lag` seconds: a best path that moves to an old path (a backup) is old too, but among fresh ones,
    so ordinary churn resets the run; a long run of old paths is either a backlog or a mass failover,
    and for both the snapshot is the cheaper way through."""

    def __init__(self, lag: float = 2.0, threshold: int = 5000) -> None:
        self.lag = lag
        self.threshold = threshold
        self.run = 0

    def observe(self, ages: Iterable[float], now: float) -> bool:
        for age in ages:
            self.run = self.run + 1 if now - age > self.lag else 0
        return self.run >= self.threshold


async def watch_best(
    client: GobgpClient, *, lag: float = 2.0, resync_after: int = 5000, min_interval: float = 30.0
) -> AsyncIterator[tuple[bool, list[tuple[BestPath, bool]]]]:
    """Yields (is_init, [(path, withdrawn)]) per event. An init event replaces everything known before: it
    comes first, and again when the reader resubscribes because it fell behind (see Backlog), at most
    once per `min_interval` seconds."""
    req = api.WatchEventRequest(
        table=api.WatchEventRequest.Table(
            filters=[api.WatchEventRequest.Table.Filter(type=api.WatchEventRequest.Table.Filter.BEST, init=True)]
        )
    )
    last_sync = time.monotonic()
    while True:
        first = True
        behind = Backlog(lag, resync_after)
        call = client.stub.WatchEvent(req)
        try:
            async for ev in call:
                if not ev.HasField("table"):
                    continue
                paths = ev.table.paths
                out = [(best_path(p), p.is_withdraw) for p in paths]
                if out or first:
                    yield first, out
                if not first and behind.observe((p.age.seconds + p.age.nanos * 1e-9 for p in paths), time.time()):
                    if time.monotonic() - last_sync >= min_interval:
                        break
                    behind.run = 0
                first = False
            else:
                return
        except grpc.aio.AioRpcError as e:
            raise translate_rpc_error(e, "WatchEvent") from None
        finally:
            call.cancel()  # gobgpd drops the watcher (and its queue) now, not when the call is collected
        log.info("best-path watch is %d+ paths behind gobgpd: resubscribing for a snapshot", behind.run)
        last_sync = time.monotonic()
