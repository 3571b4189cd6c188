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

__all__ = ["around", "iter_destinations", "lookup", "rejected_paths"]


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


async def rejected_paths(client: GobgpClient, address: str, prefixes: list[str] | None = None) -> list[RibPath]:
    """Paths the peer `address` sent that the import policy rejected (its Adj-RIB-In, filtered ones only);
    `prefixes`: only these exact ones (None: its whole Adj-RIB-In)."""
    out: list[RibPath] = []
    for fam in (V4U, V6U):
        want = [p for p in prefixes if (":" in p) == (fam is V6U)] if prefixes is not None else None
        if want == []:
            continue
        req = api.ListPathRequest(table_type=api.TABLE_TYPE_ADJ_IN, name=address, family=fam, enable_filtered=True)
        for q in want or ():
            req.prefixes.append(api.TableLookupPrefix(prefix=q, type=api.TableLookupPrefix.TYPE_EXACT))
        async for paths in _list(client, req):
            out.extend(p for p in paths if p.filtered)
    return out
