"""rib_rows (the JSON shape the API, CLI and page share), the filter box, and the CLI text tables."""

from __future__ import annotations

from typing import Any

from durantic_agent.core.types import RibPath
from durantic_agent.views.render import fmt_duration, render_rib
from durantic_agent.views.rib import rib_rows, row_matches

LOCAL = 4200000001
NOW = 1_764_000_000


def rp(prefix: str, nip: str | None, asn: int, **kw: Any) -> RibPath:
    base: dict[str, Any] = dict(
        prefix=prefix,
        next_hop=nip or "0.0.0.0",
        as_path=(asn,) if nip else (),
        as_path_len=1 if nip else 0,
        first_as=asn if nip else 0,
        origin="igp",
        med=None,
        local_pref=None,
        neighbor_ip=nip,
        source_asn=asn,
        source_id=nip or "",
        age=NOW - 100,
    )
    base.update(kw)
    return RibPath(**base)


NAMES = {"100.64.0.2": "web-2", "100.64.0.3": "web-3"}
REACH = {"100.64.0.2": "direct", "100.64.0.3": "transit via web-2"}


def rows() -> list[dict[str, Any]]:
    vip = [
        # gobgpd lists best first, but rows must not depend on it: the best flag decides.
        rp("10.50.0.10/32", "100.64.0.3", 4200000003),
        rp("10.50.0.10/32", "100.64.0.2", 4200000002, local_pref=200, best=True, communities=("65000:100",)),
    ]
    own = [rp("10.50.0.20/32", None, LOCAL, best=True)]
    gone = [rp("10.9.0.0/24", "100.64.0.2", 4200000002, is_withdraw=True)]
    return rib_rows([vip, own, gone], NAMES, {"10.50.0.10/32"}, REACH, {"10.50.0.20/32": "healthy"}, LOCAL, now=NOW)


def test_row_shape_best_first_with_explanations() -> None:
    r = rows()
    assert [x["prefix"] for x in r] == ["10.50.0.10/32", "10.50.0.20/32"]
    vip = r[0]
    assert vip["best_reason"] == "LOCAL_PREF 200 > 100"
    assert vip["explain"] == [
        {"path_index": 1, "rule": "local_pref", "text": "LOCAL_PREF 200 > 100", "best_value": "200", "value": "100"}
    ]
    best, alt = vip["paths"]
    assert best == {
        "next_hop": "100.64.0.2",
        "as_path": [4200000002],
        "communities": ["65000:100"],
        "large_communities": [],
        "local_pref": 200,
        "med": None,
        "origin": "igp",
        "source": "web-2",
        "neighbor_ip": "100.64.0.2",
        "source_asn": 4200000002,
        "received_at": "2025-11-24T15:58:20Z",
        "age_seconds": 100,
        "stale": False,
        "best": True,
        "installed": True,
        "reach": "direct",
        "health": None,
    }
    assert (alt["source"], alt["reach"], alt["installed"], alt["best"]) == ("web-3", "transit via web-2", False, False)
    own = r[1]["paths"][0]
    assert (own["source"], own["reach"], own["health"], r[1]["best_reason"]) == (
        "local",
        "local",
        "healthy",
        "only path",
    )


def test_filter_box() -> None:
    r = rows()
    assert [x["prefix"] for x in r if row_matches(x, "10.50.0.0/16")] == ["10.50.0.10/32", "10.50.0.20/32"]
    assert [x["prefix"] for x in r if row_matches(x, "10.50.0.10")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "web-3")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "65000:100")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "4200000003")] == ["10.50.0.10/32"]
    assert [x["prefix"] for x in r if row_matches(x, "")] == ["10.50.0.10/32", "10.50.0.20/32"]
    assert [x["prefix"] for x in r if row_matches(x, "nothing")] == []


def test_render_rib_modes() -> None:
    """One header style; every path row carries its prefix; --all lists every path in the same order as
    the default view, and --explain adds the rule and the neighbour; LP shows what the explanation compares."""
    best = render_rib(rows()).splitlines()
    assert best[1].split() == [
        "FLAGS",
        "PREFIX",
        "VIA",
        "REACH",
        "NEXT-HOP",
        "AS-PATH",
        "LP",
        "MED",
        "ORIGIN",
        "AGE",
        "COMMUNITIES",
        "PATHS",
        "WHY",
    ]
    assert best[2].split()[:7] == ["*>F", "10.50.0.10/32", "web-2", "direct", "100.64.0.2", "4200000002", "200"]
    assert best[2].endswith("LOCAL_PREF 200 > 100") and "1m40s" in best[2]
    assert len(best) == 4  # legend, header, 2 best paths
    every = render_rib(rows(), mode="all").splitlines()
    explained = render_rib(rows(), mode="explain").splitlines()
    assert len(every) == len(explained) == 5
    for lines in (every, explained):
        assert [ln.split()[1] for ln in lines[2:]] == ["10.50.0.10/32", "10.50.0.10/32", "10.50.0.20/32"]
        assert lines[3].split()[2] == "web-3" and " 100 " in lines[3]  # no LOCAL_PREF: compared as 100
    assert every[3].endswith("-") and "lost" not in every[3]
    assert "100.64.0.3" in explained[3] and "local_pref" in explained[3]
    assert explained[3].endswith("lost: LOCAL_PREF 200 > 100")
    assert explained[2].endswith("best: LOCAL_PREF 200 > 100")
    assert render_rib([], empty="no route for 10.0.0.0/8") == "no route for 10.0.0.0/8\n"


def test_fmt_duration() -> None:
    assert [fmt_duration(s) for s in (5, 75, 7300, 200000)] == ["5s", "1m15s", "2h01m", "2d07h"]
    assert fmt_duration(None) == "-"
