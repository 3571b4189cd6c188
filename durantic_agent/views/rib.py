"""RIB destinations -> JSON-able rows (API, CLI --json and the web page share this shape).

Row: {"prefix", "family", "paths": [path dicts, best first], "explain": [{"path_index", "rule", "text",
"best_value", "value"}], "best_reason"}. A path dict: next_hop, as_path, communities, large_communities,
local_pref, med, origin, source, neighbor_ip, source_asn, received_at (RFC 3339), age_seconds, stale, best,
installed, reach, health.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.types import RibPath
from ..timefmt import rfc3339
from .explain import DEFAULT_OPTIONS, SelectionOptions, best_index, best_reason, explain

__all__ = ["path_dict", "rib_rows", "row_matches"]


def path_dict(
    p: RibPath,
    names: Mapping[str, str],
    installed: bool,
    reach: Mapping[str, str],
    health: Mapping[str, str],
    now: float,
) -> dict[str, Any]:
    nip = p.neighbor_ip
    if nip is None:
        source = "local"
        r = "local"
        h = health.get(p.prefix)
    else:
        source = names.get(nip, nip)
        # Mesh members are keyed by their mesh address (= the next hop); other neighbours by address.
        r = reach.get(p.next_hop) or reach.get(nip) or "direct"
        h = None
    return {
        "next_hop": p.next_hop,
        "as_path": list(p.as_path),
        "communities": list(p.communities),
        "large_communities": list(p.large_communities),
        "local_pref": p.local_pref,
        "med": p.med,
        "origin": p.origin,
        "source": source,
        "neighbor_ip": nip,
        "source_asn": p.source_asn,
        "received_at": rfc3339(p.age),
        "age_seconds": max(0, int(now - p.age)) if p.age else None,
        "stale": p.stale,
        "best": p.best,
        "installed": installed,
        "reach": r,
        "health": h,
    }


def inside(prefix: str, allowed: Sequence[str]) -> bool:
    """`prefix` equals or lies inside one of `allowed` (a member's allowed_prefixes)."""
    net = ipaddress.ip_network(prefix)
    return any(
        net.version == (a := ipaddress.ip_network(a_)).version and net.subnet_of(a)  # type: ignore[arg-type]
        for a_ in allowed
    )


def rib_rows(
    destinations: Sequence[Sequence[RibPath]],
    names: Mapping[str, str],
    installed: set[str] | frozenset[str],
    reach: Mapping[str, str],
    health: Mapping[str, str],
    local_asn: int,
    opts: SelectionOptions = DEFAULT_OPTIONS,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """One row per destination. `installed` = prefixes the agent put in the kernel (their best path)."""
    now = time.time() if now is None else now
    rows: list[dict[str, Any]] = []
    for dest in destinations:
        paths = [p for p in dest if not p.is_withdraw]
        if not paths:
            continue
        prefix = paths[0].prefix
        if len(paths) == 1:  # the common case at 100k routes: no comparison work
            p = paths[0]
            rows.append(
                {
                    "prefix": prefix,
                    "family": p.family,
                    "paths": [path_dict(p, names, p.best and prefix in installed, reach, health, now)],
                    "explain": [],
                    "best_reason": "only path" if not p.nexthop_invalid else "no best path (next hop unreachable)",
                }
            )
            continue
        b = best_index(paths, local_asn, opts)
        if b:
            paths = [paths[b], *paths[:b], *paths[b + 1 :]]
        exps = explain(paths, local_asn, opts)
        is_inst = prefix in installed
        rows.append(
            {
                "prefix": prefix,
                "family": paths[0].family,
                "paths": [
                    path_dict(p, names, i == 0 and b is not None and is_inst, reach, health, now)
                    for i, p in enumerate(paths)
                ],
                "explain": [
                    {
                        "path_index": e.path_index,
                        "rule": e.rule,
                        "text": e.text,
                        "best_value": e.best_value,
                        "value": e.value,
                    }
                    for e in exps
                ],
                "best_reason": best_reason(paths, local_asn, opts, exps),
            }
        )
    return rows


def row_matches(row: Mapping[str, Any], query: str) -> bool:
    """The filter box: an address or prefix matches destinations that cover or lie inside it;
    other text matches the prefix, a peer name, a community or an AS number in any path."""
    q = query.strip()
    if not q:
        return True
    try:
        net = ipaddress.ip_network(q, strict=False)
    except ValueError:
        net = None
    if net is not None:
        try:
            dest = ipaddress.ip_network(row["prefix"], strict=False)
        except ValueError:
            return False
        return dest.version == net.version and (dest.overlaps(net))
    ql = q.lower()
    if ql in str(row["prefix"]).lower():
        return True
    for p in row["paths"]:
        if ql in str(p["source"]).lower() or any(ql == c.lower() for c in p["communities"]):
            return True
        if any(ql == c for c in p["large_communities"]) or (ql.isdigit() and int(ql) in p["as_path"]):
            return True
    return False
