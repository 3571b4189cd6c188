"""Why GoBGP chose its best path, path by path (the decision order in docs/gobgp.md, unchanged in 4.8).

GoBGP computes a reason while sorting and throws it away, and its reason is that of the last comparison
the sort made. We instead compare the best path with each alternative and name the first rule, in
GoBGP's order, that ranked the best above it, with both values. The comparison is not transitive (MED is
only compared within one neighbour AS), so an alternative may not lose to the best pairwise at all; it
is then reported as kept below by GoBGP's ordering.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.types import RibPath

__all__ = [
    "RULES",
    "Explanation",
    "SelectionOptions",
    "best_index",
    "best_reason",
    "compare",
    "explain",
    "select_best",
]


@dataclass(frozen=True, slots=True)
class SelectionOptions:
    """GoBGP's route_selection_options the agent started gobgpd with."""

    always_compare_med: bool = False
    ignore_as_path_length: bool = False
    external_compare_router_id: bool = False


DEFAULT_OPTIONS = SelectionOptions()


@dataclass(frozen=True, slots=True)
class Explanation:
    path_index: int  # index of the losing path in the list given to explain()
    rule: str  # machine-readable id, one of RULES
    text: str  # "LOCAL_PREF 200 > 100"
    best_value: str
    value: str


# Rule ids in GoBGP's order, with a short human label (for summaries).
RULES: dict[str, str] = {
    "llgr_stale": "not LLGR-stale",
    "nexthop_invalid": "reachable next hop",
    "local_pref": "LOCAL_PREF",
    "local_origin": "local origin",
    "as_path": "AS path length",
    "origin": "origin",
    "med": "MED",
    "ebgp_over_ibgp": "eBGP over iBGP",
    "older": "older path",
    "router_id": "router ID",
    "neighbor_address": "neighbour address",
    "tie": "tie",
    "order": "GoBGP ordering",
}

_ORIGIN_RANK = {"igp": 0, "egp": 1, "incomplete": 2}


def _is_ibgp(p: RibPath, local_asn: int) -> bool:
    # GoBGP: source AS == local AS (and non-zero); a local path is never iBGP.
    return p.neighbor_ip is not None and p.source_asn != 0 and p.source_asn == local_asn


def _hms(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def _ip_key(s: str) -> tuple[int, int]:
    try:
        a = ipaddress.ip_address(s)
    except ValueError:
        return (99, 0)
    return (a.version, int(a))


# A rule returns None when it does not decide; else (winner is a, rule, text, a_value, b_value)
# where the text is phrased winner-first.
_Decision = tuple[bool, str, str, str, str] | None
_Rule = Callable[[RibPath, RibPath, int, SelectionOptions], _Decision]


def _llgr(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    sa, sb = a.llgr_stale, b.llgr_stale
    if sa == sb:
        return None
    return (sb, "llgr_stale", "not LLGR-stale (the other path carries llgr-stale)", str(sa), str(sb))


def _nexthop(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    ia, ib = a.nexthop_invalid, b.nexthop_invalid
    if ia == ib:
        return None
    w, lo = (a, b) if ib else (b, a)
    return (ib, "nexthop_invalid", f"next hop {w.next_hop} reachable, {lo.next_hop} is not", str(ia), str(ib))


def _local_pref(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    la = 100 if a.local_pref is None else a.local_pref
    lb = 100 if b.local_pref is None else b.local_pref
    if la == lb:
        return None
    hi, lo = max(la, lb), min(la, lb)
    return (la > lb, "local_pref", f"LOCAL_PREF {hi} > {lo}", str(la), str(lb))


def _local_origin(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    if a.is_local == b.is_local:  # same source (both local) or both learned: no decision
        return None
    return (
        a.is_local,
        "local_origin",
        "local origin (announced by this machine)",
        "local" if a.is_local else "learned",
        "local" if b.is_local else "learned",
    )


def _as_path(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    if o.ignore_as_path_length or a.as_path_len == b.as_path_len:
        return None
    la, lb = a.as_path_len, b.as_path_len
    return (la < lb, "as_path", f"AS path length {min(la, lb)} < {max(la, lb)}", str(la), str(lb))


def _origin(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    ra, rb = _ORIGIN_RANK[a.origin], _ORIGIN_RANK[b.origin]
    if ra == rb:
        return None
    w, lo = (a, b) if ra < rb else (b, a)
    return (ra < rb, "origin", f"origin {w.origin.upper()} < {lo.origin.upper()}", a.origin, b.origin)


def _med(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    both_internal = a.as_path_len == 0 and b.as_path_len == 0
    same_as = a.first_as != 0 and a.first_as == b.first_as
    if not (o.always_compare_med or both_internal or same_as):
        return None
    ma = 0 if a.med is None else a.med
    mb = 0 if b.med is None else b.med
    if ma == mb:
        return None
    if same_as:
        why = f"same neighbour AS {a.first_as}"
    elif both_internal:
        why = "both without AS path"
    else:
        why = "always-compare-med"
    return (ma < mb, "med", f"MED {min(ma, mb)} < {max(ma, mb)} ({why})", str(ma), str(mb))


def _asn(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    ia, ib = _is_ibgp(a, asn), _is_ibgp(b, asn)
    if ia == ib:
        return None
    return (ib, "ebgp_over_ibgp", "eBGP over iBGP", "iBGP" if ia else "eBGP", "iBGP" if ib else "eBGP")


def _age(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    if _is_ibgp(a, asn) or _is_ibgp(b, asn) or o.external_compare_router_id:
        return None
    if a.age == b.age:  # 1 s resolution: same second falls through
        return None
    lo, hi = min(a.age, b.age), max(a.age, b.age)
    return (a.age < b.age, "older", f"older path (eBGP): {_hms(lo)} < {_hms(hi)}", _hms(a.age), _hms(b.age))


def _router_id(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    ia, ib = _is_ibgp(a, asn), _is_ibgp(b, asn)
    if not o.external_compare_router_id and (not (ia and ib)):
        return None  # eBGP/eBGP (unless the option) and mixed pairs are not compared by router ID
    if a.is_local or b.is_local or not a.source_id or not b.source_id:
        return None
    ka, kb = _ip_key(a.source_id), _ip_key(b.source_id)
    if ka == kb:
        return None
    w, lo = (a, b) if ka < kb else (b, a)
    return (ka < kb, "router_id", f"lower router ID {w.source_id} < {lo.source_id}", a.source_id, b.source_id)


def _neighbor(a: RibPath, b: RibPath, asn: int, o: SelectionOptions) -> _Decision:
    if a.is_local or b.is_local:
        if a.is_local and b.is_local:
            return None
        return (
            a.is_local,
            "neighbor_address",
            "local path over a learned one (no neighbour address)",
            a.neighbor_ip or "local",
            b.neighbor_ip or "local",
        )
    assert a.neighbor_ip is not None and b.neighbor_ip is not None
    ka, kb = _ip_key(a.neighbor_ip), _ip_key(b.neighbor_ip)
    if ka == kb:
        return None
    w, lo = (a, b) if ka < kb else (b, a)
    return (
        ka < kb,
        "neighbor_address",
        f"lower neighbour address {w.neighbor_ip} < {lo.neighbor_ip}",
        a.neighbor_ip,
        b.neighbor_ip,
    )


_LADDER: tuple[_Rule, ...] = (
    _llgr,
    _nexthop,
    _local_pref,
    _local_origin,
    _as_path,
    _origin,
    _med,
    _asn,
    _age,
    _router_id,
    _neighbor,
)


def compare(a: RibPath, b: RibPath, local_asn: int, opts: SelectionOptions = DEFAULT_OPTIONS) -> _Decision:
    """First rule deciding between a and b: (a_wins, rule, text, a_value, b_value), None on a full tie."""
    for rule in _LADDER:
        d = rule(a, b, local_asn, opts)
        if d is not None:
            return d
    return None


def select_best(paths: Sequence[RibPath], local_asn: int, opts: SelectionOptions = DEFAULT_OPTIONS) -> int | None:
    """Index of the path GoBGP would choose: its stable sort, then no best if the winner's next hop is bad."""
    live = [i for i, p in enumerate(paths) if not p.is_withdraw and not p.filtered]
    if not live:
        return None

    def cmp(i: int, j: int) -> int:
        d = compare(paths[i], paths[j], local_asn, opts)
        if d is None:
            return 0
        return -1 if d[0] else 1

    order = sorted(live, key=functools.cmp_to_key(cmp))
    first = order[0]
    return None if paths[first].nexthop_invalid else first


def best_index(paths: Sequence[RibPath], local_asn: int, opts: SelectionOptions = DEFAULT_OPTIONS) -> int | None:
    """gobgpd's own best flag when present, else our reproduction of its choice."""
    for i, p in enumerate(paths):
        if p.best:
            return i
    return select_best(paths, local_asn, opts)


def explain(paths: Sequence[RibPath], local_asn: int, opts: SelectionOptions = DEFAULT_OPTIONS) -> list[Explanation]:
    """For every path that is not the best: the first rule that ranked the best above it."""
    b = best_index(paths, local_asn, opts)
    if b is None:
        return []
    best = paths[b]
    out: list[Explanation] = []
    for i, p in enumerate(paths):
        if i == b or p.is_withdraw:
            continue
        if p.filtered:
            out.append(Explanation(i, "filtered", "rejected by import policy", "accepted", "filtered"))
            continue
        d = compare(best, p, local_asn, opts)
        if d is None:
            out.append(Explanation(i, "tie", "tie: the earlier path is kept", "", ""))
        elif d[0]:
            out.append(Explanation(i, d[1], d[2], d[3], d[4]))
        else:
            # Non-transitive case: pairwise this path would win (typically MED across neighbour ASes).
            out.append(
                Explanation(
                    i,
                    "order",
                    f"kept below by GoBGP's ordering (pairwise it would win on {d[2]})",
                    d[3],
                    d[4],
                )
            )
    return out


def best_reason(
    paths: Sequence[RibPath],
    local_asn: int = 0,
    opts: SelectionOptions = DEFAULT_OPTIONS,
    explanations: Sequence[Explanation] | None = None,
) -> str:
    """One line on why the best path won overall."""
    live = [p for p in paths if not p.is_withdraw]
    if not live:
        return "no path"
    if best_index(paths, local_asn, opts) is None:
        return "no best path (next hop unreachable)"
    if len(live) == 1:
        return "only path"
    exps = list(explanations) if explanations is not None else explain(paths, local_asn, opts)
    if len(exps) == 1:
        return exps[0].text
    counts = Counter(e.rule for e in exps)
    if len(counts) == 1:
        e = exps[0]
        n = len(exps)
        same_text = all(x.text == e.text for x in exps)
        return f"{e.text} (over {n} paths)" if same_text else f"{RULES.get(e.rule, e.rule)} over {n} paths"
    parts = [f"{RULES.get(r, r)} ({n})" for r, n in counts.most_common()]
    return f"won over {len(exps)} paths: " + ", ".join(parts)
