"""Table tests: every GoBGP best-path rule, its preconditions, and the wording an operator reads."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from durantic_agent.core.types import RibPath
from durantic_agent.views.explain import SelectionOptions, best_reason, explain, select_best

LOCAL = 4200000001
T0 = 1_700_000_000 - (1_700_000_000 % 86400) + 12 * 3600  # 12:00:00 UTC


def path(**kw: Any) -> RibPath:
    base: dict[str, Any] = dict(
        prefix="10.50.0.10/32",
        next_hop="100.64.0.2",
        as_path=(4200000002,),
        as_path_len=1,
        first_as=4200000002,
        origin="igp",
        med=None,
        local_pref=None,
        neighbor_ip="100.64.0.2",
        source_asn=4200000002,
        source_id="100.64.0.2",
        age=T0,
    )
    if "as_path" in kw and "as_path_len" not in kw:
        kw["as_path_len"] = len(kw["as_path"])
        kw["first_as"] = kw["as_path"][0] if kw["as_path"] else 0
    base.update(kw)
    return RibPath(**base)


A = dict(neighbor_ip="100.64.0.2", source_id="100.64.0.2", source_asn=4200000002, next_hop="100.64.0.2")
B = dict(neighbor_ip="100.64.0.3", source_id="100.64.0.3", source_asn=4200000003, next_hop="100.64.0.3")
B_SAME_AS = dict(neighbor_ip="100.64.0.3", source_id="100.64.0.3", source_asn=4200000002, next_hop="100.64.0.3")
IBGP1 = dict(neighbor_ip="10.0.0.7", source_id="10.0.0.7", source_asn=LOCAL, next_hop="10.0.0.7")
IBGP2 = dict(neighbor_ip="10.0.0.3", source_id="10.0.0.9", source_asn=LOCAL, next_hop="10.0.0.3")
LOCAL_SRC = dict(neighbor_ip=None, source_id="100.64.0.1", source_asn=LOCAL, next_hop="0.0.0.0")

# (case id, winner, loser, options, expected rule, expected text)
CASES: list[tuple[str, RibPath, RibPath, SelectionOptions, str, str]] = [
    (
        "llgr_stale",
        path(**A, as_path=(1, 2, 3)),
        path(**B, communities=("llgr-stale",)),
        SelectionOptions(),
        "llgr_stale",
        "not LLGR-stale (the other path carries llgr-stale)",
    ),
    (
        "nexthop_invalid",
        path(**B, local_pref=50),
        path(**A, nexthop_invalid=True, local_pref=200),
        SelectionOptions(),
        "nexthop_invalid",
        "next hop 100.64.0.3 reachable, 100.64.0.2 is not",
    ),
    ("local_pref", path(**B, local_pref=200), path(**A), SelectionOptions(), "local_pref", "LOCAL_PREF 200 > 100"),
    (
        "local_pref_missing_is_100",
        path(**B),
        path(**A, local_pref=99),
        SelectionOptions(),
        "local_pref",
        "LOCAL_PREF 100 > 99",
    ),
    (
        "local_origin",
        path(**LOCAL_SRC, as_path=(), as_path_len=5),
        path(**A),
        SelectionOptions(),
        "local_origin",
        "local origin (announced by this machine)",
    ),
    (
        "as_path",
        path(**B, as_path=(4200000003,)),
        path(**A, as_path=(4200000002, 4200000004, 4200000005)),
        SelectionOptions(),
        "as_path",
        "AS path length 1 < 3",
    ),
    (
        "as_set_counts_one",
        path(**B, as_path=(4200000003, 7, 8), as_path_len=2),
        path(**A, as_path=(4200000002, 4200000004, 4200000005)),
        SelectionOptions(),
        "as_path",
        "AS path length 2 < 3",
    ),
    (
        "origin",
        path(**B, origin="igp"),
        path(**A, origin="incomplete"),
        SelectionOptions(),
        "origin",
        "origin IGP < INCOMPLETE",
    ),
    (
        "origin_egp",
        path(**B, origin="egp"),
        path(**A, origin="incomplete"),
        SelectionOptions(),
        "origin",
        "origin EGP < INCOMPLETE",
    ),
    (
        "med_same_neighbour_as",
        path(**B_SAME_AS, med=10, as_path=(4200000002,)),
        path(**A, med=50),
        SelectionOptions(),
        "med",
        "MED 10 < 50 (same neighbour AS 4200000002)",
    ),
    (
        "med_missing_is_zero",
        path(**B_SAME_AS, as_path=(4200000002,)),
        path(**A, med=5),
        SelectionOptions(),
        "med",
        "MED 0 < 5 (same neighbour AS 4200000002)",
    ),
    (
        "med_always_compare",
        path(**B, med=10, as_path=(4200000003,), age=T0 + 5),
        path(**A, med=50, age=T0),
        SelectionOptions(always_compare_med=True),
        "med",
        "MED 10 < 50 (always-compare-med)",
    ),
    (
        "med_both_without_as_path",
        path(**IBGP1, as_path=(), med=1),
        path(**IBGP2, as_path=(), med=2),
        SelectionOptions(),
        "med",
        "MED 1 < 2 (both without AS path)",
    ),
    (
        # Different neighbour AS: MED ignored, the older path wins although its MED is higher.
        "med_not_compared_across_as",
        path(**B, med=50, as_path=(4200000003,), age=T0),
        path(**A, med=10, age=T0 + 4),
        SelectionOptions(),
        "older",
        "older path (eBGP): 12:00:00 < 12:00:04",
    ),
    (
        "ebgp_over_ibgp",
        path(**B, age=T0 + 9),
        path(**IBGP1, as_path=(4200000009,), age=T0),
        SelectionOptions(),
        "ebgp_over_ibgp",
        "eBGP over iBGP",
    ),
    (
        "older",
        path(**B, age=T0 + 1),
        path(**A, age=T0 + 5),
        SelectionOptions(),
        "older",
        "older path (eBGP): 12:00:01 < 12:00:05",
    ),
    (
        # Same second: age ties, router ID is skipped for eBGP/eBGP, the lower address decides.
        "same_second_falls_to_address",
        path(**{**A, "source_id": "9.9.9.9"}),
        path(**{**B, "source_id": "1.1.1.1"}),
        SelectionOptions(),
        "neighbor_address",
        "lower neighbour address 100.64.0.2 < 100.64.0.3",
    ),
    (
        "router_id_ibgp",
        path(**IBGP2, as_path=()),
        path(**IBGP1, as_path=(), age=T0 - 100),
        SelectionOptions(),
        "router_id",
        "lower router ID 10.0.0.7 < 10.0.0.9",
    ),
    (
        "external_compare_router_id",
        path(**{**B, "source_id": "1.1.1.1"}, age=T0 + 10),
        path(**{**A, "source_id": "2.2.2.2"}, age=T0),
        SelectionOptions(external_compare_router_id=True),
        "router_id",
        "lower router ID 1.1.1.1 < 2.2.2.2",
    ),
    (
        "neighbor_address_ibgp_same_router_id",
        path(**{**IBGP2, "source_id": "10.0.0.7"}, as_path=()),
        path(**IBGP1, as_path=()),
        SelectionOptions(),
        "neighbor_address",
        "lower neighbour address 10.0.0.3 < 10.0.0.7",
    ),
    (
        "ignore_as_path_length",
        path(**B, as_path=(4200000003, 1, 2), origin="igp"),
        path(**A, origin="egp"),
        SelectionOptions(ignore_as_path_length=True),
        "origin",
        "origin IGP < EGP",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("winner_first", [True, False])
def test_rule(case: tuple[str, RibPath, RibPath, SelectionOptions, str, str], winner_first: bool) -> None:
    name, win, lose, opts, rule, text = case
    if name == "router_id_ibgp":
        # IBGP2 has router ID 10.0.0.9 > IBGP1's 10.0.0.7: IBGP1 wins despite the higher address.
        win, lose = lose, win
    paths = [win, lose] if winner_first else [lose, win]
    wi = 0 if winner_first else 1
    assert select_best(paths, LOCAL, opts) == wi
    flagged = [dataclasses.replace(p, best=(i == wi)) for i, p in enumerate(paths)]
    for ps in (paths, flagged):
        (e,) = explain(ps, LOCAL, opts)
        assert e.path_index == 1 - wi
        assert (e.rule, e.text) == (rule, text)
        assert best_reason(ps, LOCAL, opts) == text


def test_only_path() -> None:
    assert explain([path(best=True)], LOCAL) == []
    assert best_reason([path(best=True)], LOCAL) == "only path"


def test_no_best_when_winner_nexthop_invalid() -> None:
    paths = [path(**A, nexthop_invalid=True), path(**B, nexthop_invalid=True)]
    assert select_best(paths, LOCAL) is None
    assert explain(paths, LOCAL) == []
    assert best_reason(paths, LOCAL) == "no best path (next hop unreachable)"


def test_full_tie_keeps_earlier() -> None:
    p = path(**A)
    (e,) = explain([dataclasses.replace(p, best=True), p], LOCAL)
    assert e.rule == "tie"


def test_three_paths_summary_and_values() -> None:
    best = path(**B, local_pref=200, best=True)
    a = path(**A)
    c = path(neighbor_ip="100.64.0.4", source_id="100.64.0.4", source_asn=4200000004, local_pref=300, med=1)
    c = dataclasses.replace(c, local_pref=150)
    exps = explain([best, a, c], LOCAL)
    assert [(e.path_index, e.rule, e.best_value, e.value) for e in exps] == [
        (1, "local_pref", "200", "100"),
        (2, "local_pref", "200", "150"),
    ]
    assert best_reason([best, a, c], LOCAL) == "LOCAL_PREF over 2 paths"
    d = path(neighbor_ip="100.64.0.5", source_id="100.64.0.5", source_asn=4200000005, local_pref=200, as_path=(1, 2))
    assert best_reason([best, a, d], LOCAL) == "won over 2 paths: LOCAL_PREF (1), AS path length (1)"


def test_filtered_and_withdrawn_paths() -> None:
    best = path(**B, best=True)
    rejected = path(**A, local_pref=500, filtered=True)
    gone = path(**A, is_withdraw=True)
    exps = explain([best, rejected, gone], LOCAL)
    assert [(e.path_index, e.rule) for e in exps] == [(1, "filtered")]
    assert select_best([rejected, best], LOCAL) == 1


def test_non_transitive_med_is_reported_as_order() -> None:
    # gobgpd says X best; pairwise Y beats X on MED (same AS) - reported, not hidden.
    x = path(**B, med=50, as_path=(4200000002,), best=True)
    y = path(**A, med=10)
    (e,) = explain([x, y], LOCAL)
    assert e.rule == "order"
    assert "MED 10 < 50" in e.text
