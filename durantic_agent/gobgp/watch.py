"""WatchEvent(BEST, init=True): gobgpd's best paths as a stream of changes, for the overlay FIB.

The first event carries every current best path (and is sent even for an empty table). When the best
moves to another path only the new best arrives; a withdrawal arrives only when no path is left.
Empty events (a non-best path arriving, GR stale marking) are ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..fib import BestPath
from .client import GobgpClient
from .decode import decode_path
from .pb import api

__all__ = ["watch_best"]


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
        out = []
        for p in ev.table.paths:
            rp = decode_path(p)
            out.append((BestPath(rp.prefix, rp.next_hop, rp.neighbor_ip is None), bool(p.is_withdraw)))
        if out or first:
            yield first, out
        first = False
