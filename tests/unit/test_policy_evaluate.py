from __future__ import annotations

from typing import Any

import pytest

from durantic_agent.policy import PolicySet, evaluate, evaluate_chain, parse_test_route

ME = 4200000001

PRIMARY = PolicySet.model_validate(
    {
        "name": "prefer-primary",
        "rules": [
            {
                "name": "bogons",
                "match": {"prefixes": ["10.0.0.0/8 ge 24 le 28", "2001:db8::/32 le 128"]},
                "actions": {"result": "reject"},
            },
            {
                "name": "tag",
                "match": {"as_path": "_4200000003$"},
                "actions": {"communities": {"add": ["65000:300"]}, "med": "+10", "result": "continue"},
            },
            {
                "name": "vips",
                "match": {
                    "prefixes": ["10.50.0.0/16 le 32"],
                    "communities": ["65000:100", "no-export"],
                    "as_path": "^4200000002_",
                },
                "actions": {
                    "local_pref": 200,
                    "med": 50,
                    "as_prepend": {"asn": "self", "repeat": 2},
                    "communities": {"remove": ["65000:100"]},
                    "large_communities": {"add": ["4200000001:1:1"]},
                },
            },
            {"name": "from-tor", "match": {"neighbors": ["tor1"]}, "actions": {"result": "reject"}},
        ],
    }
)


@pytest.mark.parametrize(
    ("route", "decided", "result", "applied"),
    [
        (dict(prefix="10.1.2.0/24"), "bogons", "reject", ["bogons"]),
        (dict(prefix="10.1.0.0/16"), None, "accept", []),
        (dict(prefix="2001:db8:1::/48"), "bogons", "reject", ["bogons"]),
        (dict(prefix="10.50.0.10/32", communities=["65000:100"], as_path="4200000002"), "vips", "accept", ["vips"]),
        (
            dict(prefix="10.50.0.10/32", communities=["no-export"], as_path="4200000002 4200000003"),
            "vips",
            "accept",
            ["tag", "vips"],
        ),
        # `^4200000002_` needs it first in the path
        (dict(prefix="10.50.0.10/32", communities=["65000:100"], as_path="1 4200000002"), None, "accept", []),
        (dict(prefix="172.16.0.0/24", communities=["65000:100"], as_path="4200000002"), None, "accept", []),
        (dict(prefix="172.16.0.0/24", neighbor="tor1"), "from-tor", "reject", ["from-tor"]),
    ],
)
def test_which_rule_decides(route: dict[str, Any], decided: str | None, result: str, applied: list[str]) -> None:
    ev = evaluate(PRIMARY, parse_test_route(**route), my_asn=ME)
    assert (ev.decided_by.rule if ev.decided_by else None) == decided
    assert ev.result == result
    assert [h.rule for h in ev.applied] == applied


def test_resulting_attributes() -> None:
    r = parse_test_route(
        "10.50.0.10/32", communities=["65000:100"], as_path="4200000002 4200000003", med=7, local_pref=100
    )
    ev = evaluate(PRIMARY, r, my_asn=ME)
    assert ev.route.as_path == (ME, ME, 4200000002, 4200000003)
    assert ev.route.communities == ("65000:300",)  # tag added 65000:300, vips removed 65000:100
    assert ev.route.large_communities == ("4200000001:1:1",)
    assert ev.route.med == 50 and ev.route.local_pref == 200
    assert ev.to_json()["decided_by"] == {"policy_set": "prefer-primary", "rule": "vips", "result": "accept"}


def test_med_underflow_leaves_med_and_default_reject() -> None:
    ps = PolicySet.model_validate(
        {"name": "s", "rules": [{"name": "m", "actions": {"med": "-5", "result": "continue"}}]}
    )
    ev = evaluate_chain([ps], parse_test_route("10.0.0.0/8", med=3), my_asn=ME, default="reject")
    assert ev.result == "reject" and ev.decided_by is None and ev.route.med == 3 and ev.notes


def test_bad_cli_values_name_the_flag() -> None:
    with pytest.raises(ValueError, match=r"--prefix: '10.0.0.1/8' is not a valid prefix"):
        parse_test_route("10.0.0.1/8")
    with pytest.raises(ValueError, match=r"--as-path: '42x' is not a list of AS numbers"):
        parse_test_route("10.0.0.0/8", as_path="42x")
    with pytest.raises(ValueError, match=r"--community: '1:70000' is out of range"):
        parse_test_route("10.0.0.0/8", communities=["1:70000"])
