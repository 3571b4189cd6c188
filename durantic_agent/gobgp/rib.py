"""Read gobgpd's global RIB as RibPath lists (the read model's queries; whole-table listings are in bulk.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

from ..core.types import RibPath
from . import raw
from .bulk import families_for, list_path_request
from .client import GobgpClient
from .decode import decode_destination
from .pb import V4U, V6U, api

__all__ = ["around", "iter_destinations", "lookup"]


async def _list(client: GobgpClient, req: object) -> AsyncIterator[list[RibPath]]:
    async for r in client.raw_stream("ListPath", req, raw.ListPathResponse.FromString):
        paths = decode_destination(r.destination)
        if paths:
            yield paths


async def iter_destinations(client: GobgpClient, prefix: str | None = None) -> AsyncIterator[list[RibPath]]:
    """Every destination (both families, sorted by prefix), or the one of `prefix`."""
    for fam in families_for(prefix):
        async for paths in _list(client, list_path_request(fam, [prefix] if prefix else (), sort=True)):
            yield paths


async def around(client: GobgpClient, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[list[RibPath]]:
    """Destinations inside `net` and those covering it (two table lookups, no full listing)."""
    fam = V6U if net.version == 6 else V4U
    found: dict[str, list[RibPath]] = {}
    for kind in (api.TableLookupPrefix.TYPE_LONGER, api.TableLookupPrefix.TYPE_SHORTER):
        async for paths in _list(client, list_path_request(fam, [str(net)], kind)):
            found[paths[0].prefix] = paths
    return list(found.values())


async def lookup(client: GobgpClient, prefixes: list[str]) -> list[list[RibPath]]:
    """The destinations of exactly these prefixes (one ListPath per family)."""
    out: list[list[RibPath]] = []
    for fam, want in ((V4U, [p for p in prefixes if ":" not in p]), (V6U, [p for p in prefixes if ":" in p])):
        if want:
            out.extend([paths async for paths in _list(client, list_path_request(fam, want))])
    return out
