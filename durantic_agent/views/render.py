"""Plain-text views for the CLI: every table (rib, peers, announcements, checks, policies, status).

They take the same dicts the API returns, so `--json` and the text never disagree. One style: headers in
capitals with '-' between words, '-' for an empty cell, durations as '41s' / '3m12s', and a sentence
instead of an empty table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "fmt_duration",
    "fmt_value",
    "render_announcement",
    "render_announcements",
    "render_apply",
    "render_checks",
    "render_diff",
    "render_peers",
    "render_policies",
    "render_rib",
    "render_status",
    "table",
]

# GoBGP compares a path without LOCAL_PREF as 100 (views/explain.py): the column shows what is compared.
DEFAULT_LOCAL_PREF = 100


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def fmt_duration(secs: float | int | None) -> str:
    """Seconds -> '41s', '3m12s', '3h12m', '2d04h'; None -> '-'."""
    if secs is None:
        return "-"
    s = max(0, int(secs))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _ms(secs: float | None) -> str:
    return "-" if secs is None else f"{secs * 1000:.1f}ms"


def fmt_value(v: Any) -> str:
    """A JSON value as an operator reads it: '-' for nothing, yes/no, lists joined, mappings as k=v."""
    if v is None or v == "" or v == [] or v == {}:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return " ".join(fmt_value(x) for x in v)
    if isinstance(v, dict):
        return " ".join(f"{k}={fmt_value(x)}" for k, x in v.items())
    return str(v)


def _dash(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


# ----- rib -------------------------------------------------------------------------------------------

_RIB_HEADERS = ("FLAGS", "PREFIX", "VIA", "REACH", "NEXT-HOP", "AS-PATH", "LP", "MED", "ORIGIN", "AGE", "COMMUNITIES")


def _flags(p: Mapping[str, Any]) -> str:
    f = "*>" if p["best"] else "* "
    if p.get("stale"):
        f += "S"
    if p.get("installed"):
        f += "F"
    return f


def _path_cells(prefix: str, p: Mapping[str, Any]) -> list[str]:
    comms = [*p["communities"], *p["large_communities"]]
    lp = p["local_pref"]
    return [
        _flags(p),
        prefix,
        str(p["source"]),
        str(p["reach"]),
        str(p["next_hop"]),
        " ".join(str(a) for a in p["as_path"]) or "-",
        str(DEFAULT_LOCAL_PREF if lp is None else lp),
        _dash(p["med"]),
        _dash(p["origin"]),
        fmt_duration(p.get("age_seconds")),
        ",".join(comms) or "-",
    ]


def render_rib(rows: Sequence[Mapping[str, Any]], mode: str = "best", empty: str = "no routes") -> str:
    """mode "best": one row per destination, its best path, the number of paths and why it won.
    "all": every path (best first), the best one's reason. "explain": every path, and for each
    alternative the rule it lost on (RULE) and what was compared (WHY), with the neighbour's address."""
    out: list[list[str]] = []
    for row in rows:
        paths = row["paths"]
        if not paths:
            continue
        prefix = row["prefix"]
        if mode == "best":
            out.append([*_path_cells(prefix, paths[0]), str(len(paths)), str(row["best_reason"])])
            continue
        why = {e["path_index"]: e for e in row["explain"]}
        for i, p in enumerate(paths):
            cells = _path_cells(prefix, p)
            e = why.get(i)
            reason = f"best: {row['best_reason']}" if i == 0 else (f"lost: {e['text']}" if e else "-")
            if mode == "all":
                out.append([*cells, reason if i == 0 else "-"])
            else:
                rule = "-" if i == 0 or e is None else str(e["rule"])
                out.append([*cells, _dash(p.get("neighbor_ip")), rule, reason])
    if not out:
        return empty + "\n"
    if mode == "best":
        headers: tuple[str, ...] = (*_RIB_HEADERS, "PATHS", "WHY")
    elif mode == "all":
        headers = (*_RIB_HEADERS, "WHY")
    else:
        headers = (*_RIB_HEADERS, "NEIGHBOR", "RULE", "WHY")
    legend = "FLAGS: *> best, S stale, F installed in the kernel; LP without LOCAL_PREF is compared as 100\n"
    return legend + table(headers, out)


# ----- peers, announcements, checks --------------------------------------------------------------------


def render_peers(peers: Sequence[Mapping[str, Any]]) -> str:
    if not peers:
        return "no peers (no mesh members or neighbours configured)\n"
    rows = [
        [
            str(p["name"]),
            str(p["kind"]),
            str(p["address"]),
            str(p["asn"]),
            fmt_state(p),
            fmt_duration(p.get("uptime_seconds")),
            f"{_dash(p.get('received'))}/{_dash(p.get('accepted'))}/{_dash(p.get('advertised'))}",
            fmt_duration(p.get("handshake_age_seconds")) if p.get("wg_endpoint") is not None else "-",
            _dash(p.get("wg_endpoint")),
            _dash(p.get("path_type")),
            fmt_liveness(p.get("liveness")),
        ]
        for p in peers
    ]
    headers = (
        "PEER",
        "KIND",
        "ADDRESS",
        "AS",
        "STATE",
        "UP",
        "RCV/ACC/ADV",
        "HANDSHAKE",
        "ENDPOINT",
        "PATH",
        "DATA PLANE",
    )
    return table(headers, rows)


def fmt_state(p: Mapping[str, Any]) -> str:
    """BGP state; a session held down by its prefix limit says so (the reason is in --json)."""
    return (
        f"{p['state']} (max_prefixes {p.get('max_prefixes')} exceeded)" if p.get("prefix_limited") else str(p["state"])
    )


def fmt_liveness(lv: Mapping[str, Any] | None, now: float | None = None) -> str:
    """A member's data plane: 'up 0.4ms' (last echo round trip), 'down 12s' (for how long), 'unknown';
    a neighbour's BFD session: 'bfd up', 'bfd down'."""
    if not lv:
        return "-"
    state = str(lv.get("state"))
    if lv.get("via") == "bfd":
        return f"bfd {state}"
    if state == "up":
        rtt = lv.get("rtt_seconds")
        return "up" if rtt is None else f"up {rtt * 1000:.1f}ms"
    if state == "down":
        return f"down {fmt_duration(lv.get('for_seconds'))}"
    return state


def render_announcements(anns: Sequence[Mapping[str, Any]]) -> str:
    if not anns:
        return "no announcements\n"
    rows = [
        [
            str(a["name"]),
            str(a["kind"]),
            str(a["prefix"]),
            _dash(a.get("check")),
            str(a["state"]),
            fmt_value(bool(a["announced"])),
            _dash(a.get("last_detail")),
        ]
        for a in anns
    ]
    return table(("NAME", "KIND", "PREFIX", "CHECK", "STATE", "ANNOUNCED", "DETAIL"), rows)


def render_checks(checks: Sequence[Mapping[str, Any]]) -> str:
    """The rows of /v1/checks (one per announcement with a health check)."""
    if not checks:
        return "no health checks\n"
    rows = [
        [
            str(c["name"]),
            _dash(c.get("type")),
            str(c["state"]),
            fmt_value(bool(c.get("passing"))),
            _ms(c.get("last_latency_seconds")),
            str(c.get("transitions", 0)),
            _dash(c.get("last_detail")),
        ]
        for c in checks
    ]
    return table(("NAME", "TYPE", "STATE", "PASSING", "LATENCY", "TRANSITIONS", "DETAIL"), rows)


def render_announcement(a: Mapping[str, Any]) -> str:
    """`announce show`: the state with units, then the object as it was written (what `get` prints)."""
    import yaml

    lines = [
        ("name", a["name"]),
        ("kind", a["kind"]),
        ("prefix", a["prefix"]),
        ("enabled", fmt_value(bool(a["enabled"]))),
        ("announced", fmt_value(bool(a["announced"]))),
        ("health", a["state"]),
        ("check", _dash(a.get("check"))),
        ("last result", _dash(a.get("last_detail"))),
        ("last latency", _ms(a.get("last_latency_seconds"))),
        ("transitions", str(a.get("transitions", 0))),
        ("communities", fmt_value([*a.get("communities", []), *a.get("large_communities", [])])),
        ("med", _dash(a.get("med"))),
    ]
    width = max(len(k) for k, _ in lines) + 1
    text = "".join(f"{(k + ':').ljust(width)} {v}\n" for k, v in lines)
    obj = yaml.safe_dump(a.get("object", {}), sort_keys=False)
    return text + "object:\n" + "".join(f"  {line}\n" for line in obj.splitlines())


def render_policies(data: Mapping[str, Any]) -> str:
    sets = data["sets"]
    imp, exp = list(data["import_policies"]), list(data["export_policies"])
    if sets:
        rows = [
            [
                str(p["name"]),
                str(len(p["rules"])),
                ",".join(d for d, names in (("import", imp), ("export", exp)) if p["name"] in names) or "-",
            ]
            for p in sets
        ]
        text = table(("POLICY-SET", "RULES", "ASSIGNED"), rows)
    else:
        text = "no policy sets\n"
    text += f"import: {', '.join(imp) or '-'} (default {data['default_import']})\n"
    text += f"export: {', '.join(exp) or '-'} (default {data['default_export']})\n"
    return text


def render_status(st: Mapping[str, Any]) -> str:
    m, g = st["machine"], st["gobgpd"]
    lines = [
        f"machine    {m['name']}  AS{m['asn']}  router-id {m['router_id']}",
        f"agent      {st['version']}  pid {st['pid']}  up {fmt_duration(st['uptime_seconds'])}  drain {st['drain']}",
        f"gobgpd     {g['version']}  pid {_dash(g['pid'])}  restarts {g['restarts']}  ready {fmt_value(g['ready'])}",
    ]
    if not g.get("responsive", True):
        lines.append(
            f"gobgpd     UNRESPONSIVE: {g['missed_probes']} GetBgp probes unanswered since {g['unresponsive_since']}"
        )
    for mesh in st.get("meshes", []):
        lines.append(
            f"mesh       {mesh['name']}  {mesh['interface']}  {mesh['address']}  port {mesh['listen_port']}  "
            f"{mesh['members']} members  up {fmt_value(mesh['up'])}  key {_dash(mesh['public_key'])}"
        )
        if mesh.get("probe_error"):
            lines.append(f"mesh       {mesh['name']}: direct-path probe: {mesh['probe_error']}")
    for k, v in st["reconcile"].items():
        if not v["ok"]:
            lines.append(f"reconcile  {k}: {v['error']}")
    lv = st.get("liveness") or {}
    if lv.get("error"):
        lines.append(f"liveness   {lv['error']}")
    return "\n".join(lines) + "\n\n" + render_peers(st["peers"])


def render_apply(results: Sequence[Mapping[str, Any]], dry_run: bool) -> str:
    """One line per object, as kubectl prints them: `announcement/web created`."""
    if not results:
        return "nothing to apply (the file names no objects)\n"
    suffix = " (dry run)" if dry_run else ""
    out = []
    for r in results:
        ref = r["name"] if r["kind"] == "assignment" else f"{r['kind']}/{r['name']}"
        out.append(f"{ref} {r['action']}{suffix}\n")
    return "".join(out)


def render_diff(results: Sequence[Mapping[str, Any]]) -> str:
    """`durantic diff`: a unified diff of each object apply would change, as `get -o yaml` prints it."""
    import difflib

    import yaml

    def lines(obj: Any) -> list[str]:
        return [] if obj is None else yaml.safe_dump(obj, sort_keys=False).splitlines(keepends=True)

    out: list[str] = []
    for r in results:
        if r["action"] == "unchanged":
            continue
        ref = r["name"] if r["kind"] == "assignment" else f"{r['kind']}/{r['name']}"
        old, new = r.get("before"), r.get("after")
        if r["kind"] == "assignment":  # a bare value or list: shown under its key
            old = None if old is None else {r["name"]: old}
            new = None if new is None else {r["name"]: new}
        out += difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile="/dev/null" if old is None else f"a/{ref}",
            tofile="/dev/null" if new is None else f"b/{ref}",
        )
    return "".join(out) if out else "no differences\n"
