"""Plain-text tables for the CLI (`durantic rib [--explain]`, `peers`, `announce list`, `checks`).

They take the same dicts the API returns, so `--json` and the table never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["fmt_age", "render_announcements", "render_checks", "render_peers", "render_rib", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def fmt_age(ts: float | int | None, now: float | None = None) -> str:
    """Unix time -> '41s', '3m12s', '3h12m', '2d04h'; None/0 -> 'never'."""
    if not ts:
        return "never"
    s = max(0, int((time.time() if now is None else now) - ts))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _dash(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def _flags(p: Mapping[str, Any]) -> str:
    f = "*>" if p["best"] else "* "
    if p.get("stale"):
        f += "S"
    if p.get("installed"):
        f += "F"
    return f


def _path_cells(prefix: str, p: Mapping[str, Any], now: float | None) -> list[str]:
    comms = [*p["communities"], *p["large_communities"]]
    return [
        _flags(p),
        prefix,
        str(p["source"]),
        str(p["reach"]),
        str(p["next_hop"]),
        " ".join(str(a) for a in p["as_path"]) or "-",
        _dash(p["local_pref"]),
        _dash(p["med"]),
        str(p["origin"])[0] if p["origin"] else "-",
        fmt_age(p["age"], now),
        ",".join(comms) or "-",
    ]


_RIB_HEADERS = (
    "Flags",
    "Prefix",
    "Via",
    "Reach",
    "NextHop",
    "AS-path",
    "LP",
    "MED",
    "O",
    "Age",
    "Communities",
)


def render_rib(rows: Sequence[Mapping[str, Any]], explain: bool = False, now: float | None = None) -> str:
    """Best paths only (with why they won); with explain, every alternative and the rule it lost on."""
    out: list[list[str]] = []
    for row in rows:
        paths = row["paths"]
        if not paths:
            continue
        cells = _path_cells(row["prefix"], paths[0], now)
        out.append([*cells, str(row["best_reason"])])
        if explain:
            why = {e["path_index"]: e for e in row["explain"]}
            for i, p in enumerate(paths[1:], start=1):
                e = why.get(i)
                out.append([*_path_cells("", p, now), f"lost: {e['text']}" if e else "-"])
    legend = "Flags: *> best, S stale, F installed in the kernel; O origin i/e/?\n"
    return legend + table((*_RIB_HEADERS, "Why"), out)


def render_peers(peers: Sequence[Mapping[str, Any]], now: float | None = None) -> str:
    rows = [
        [
            str(p["name"]),
            str(p["address"]),
            str(p["asn"]),
            str(p["state"]),
            fmt_age(p.get("uptime"), now) if p.get("state") == "established" else "-",
            f"{_dash(p.get('received'))}/{_dash(p.get('accepted'))}/{_dash(p.get('advertised'))}",
            fmt_age(p.get("last_handshake"), now) if p.get("wg_endpoint") is not None else "-",
            _dash(p.get("wg_endpoint")),
            str(p.get("path_type") or "-"),
            fmt_liveness(p.get("liveness"), now),
        ]
        for p in peers
    ]
    headers = ("Peer", "Address", "AS", "State", "Up", "Rcv/Acc/Adv", "Handshake", "Endpoint", "Path", "Data plane")
    return table(headers, rows)


def fmt_liveness(lv: Mapping[str, Any] | None, now: float | None = None) -> str:
    """A member's data plane: 'up 0.4ms' (last echo round trip), 'down 12s' (for how long), 'unknown';
    a neighbour's BFD session: 'bfd up', 'bfd down'."""
    if not lv:
        return "-"
    state = str(lv.get("state"))
    if lv.get("via") == "bfd":
        return f"bfd {state}"
    if state == "up":
        return "up" if lv.get("rtt") is None else f"up {lv['rtt'] * 1000:.1f}ms"
    if state == "down":
        return f"down {fmt_age(lv.get('since'), now)}"
    return state


def _latency(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f}ms"


def render_announcements(anns: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            str(a["name"]),
            str(a["kind"]),
            str(a["prefix"]),
            str(a.get("check") or "-"),
            str(a["state"]),
            "yes" if a["announced"] else "no",
        ]
        for a in anns
    ]
    return table(("Name", "Kind", "Prefix", "Check", "State", "Announced"), rows)


def render_checks(anns: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            str(a["name"]),
            str(a["prefix"]),
            str(a.get("check") or "-"),
            str(a["state"]),
            "yes" if a["announced"] else "no",
            _latency(a.get("last_latency")),
            str(a.get("transitions", 0)),
            _dash(a.get("last_detail")),
        ]
        for a in anns
        if a.get("check")
    ]
    return table(("Name", "Prefix", "Check", "State", "Announced", "Latency", "Flips", "Last result"), rows)
