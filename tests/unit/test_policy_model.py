from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from durantic_agent.policy.model import (
    PolicyAssignment,
    PolicySet,
    check_neighbors,
    check_policy_sets,
    parse_prefix_entry,
    validate_assignment,
)
from durantic_agent.validation import format_errors


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy_sets: list[PolicySet]


def one_error(rule: dict[str, Any]) -> str:
    doc = {"policy_sets": [{"name": "s", "rules": [{"name": "ok"}, rule]}]}
    with pytest.raises(ValidationError) as ei:
        Doc.model_validate(doc)
    lines = format_errors(ei.value)
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        (
            {"name": "r", "match": {"prefixes": ["10.0.0.0/8 ge 4"]}},
            "policy_sets[0].rules[1].match.prefixes[0]: '10.0.0.0/8 ge 4' ge 4 is shorter than the prefix length 8",
        ),
        (
            {"name": "r", "match": {"prefixes": ["10.0.0.0/33"]}},
            "policy_sets[0].rules[1].match.prefixes[0]: '10.0.0.0/33' '10.0.0.0/33' is not a valid CIDR prefix",
        ),
        (
            {"name": "r", "match": {"prefixes": ["10.0.0.1/8"]}},
            "policy_sets[0].rules[1].match.prefixes[0]: '10.0.0.1/8' 10.0.0.1/8 has host bits set",
        ),
        (
            {"name": "r", "match": {"prefixes": ["10.0.0.0/8 le 33"]}},
            "policy_sets[0].rules[1].match.prefixes[0]: '10.0.0.0/8 le 33' le 33 is longer than 32, "
            "the longest IPv4 prefix",
        ),
        (
            {"name": "r", "match": {"prefixes": ["2001:db8::/32 ge 64 le 48"]}},
            "policy_sets[0].rules[1].match.prefixes[0]: '2001:db8::/32 ge 64 le 48' ge 64 is greater than le 48",
        ),
        (
            {"name": "r", "match": {"communities": ["65000:65536"]}},
            "policy_sets[0].rules[1].match.communities[0]: '65000:65536' is out of range "
            "(both halves of a standard community are 0..65535)",
        ),
        (
            {"name": "r", "match": {"large_communities": ["1:2:4294967296"]}},
            "policy_sets[0].rules[1].match.large_communities[0]: '1:2:4294967296' is out of range "
            "(each part of a large community is 0..4294967295)",
        ),
        (
            {"name": "r", "match": {"as_path": "^(4200_"}},
            "policy_sets[0].rules[1].match.as_path: '^(4200_' is not a valid regular expression "
            "(missing ), unterminated subpattern at position 1)",
        ),
        (
            {"name": "r", "actions": {"as_prepend": {"asn": "self", "repeat": 17}}},
            "policy_sets[0].rules[1].actions.as_prepend.repeat: 17 must be less than or equal to 16",
        ),
        (
            {"name": "r", "actions": {"as_prepend": {"asn": "me"}}},
            "policy_sets[0].rules[1].actions.as_prepend.asn: 'me' must be 'self' or an AS number (1..4294967295)",
        ),
        (
            {"name": "r", "actions": {"local_pref": 4294967296}},
            "policy_sets[0].rules[1].actions.local_pref: 4294967296 is out of range (0..4294967295)",
        ),
        (
            {"name": "r", "actions": {"med": "+x"}},
            "policy_sets[0].rules[1].actions.med: '+x' must be a MED 0..4294967295, or '+N' / '-N' to adjust it",
        ),
        (
            {"name": "r", "actions": {"med": -1}},
            "policy_sets[0].rules[1].actions.med: -1 is out of range (0..4294967295)",
        ),
        (
            {"name": "r", "actions": {"result": "deny"}},
            "policy_sets[0].rules[1].actions.result: 'deny' must be 'accept', 'reject' or 'continue'",
        ),
        ({"name": "r", "match": {"prefix": []}}, "policy_sets[0].rules[1].match.prefix: unknown key"),
        (
            {"name": "r", "actions": {"communities": {"add": ["1:1"], "remove": ["1:2"]}}},
            "policy_sets[0].rules[1].actions.communities: give exactly one of add, remove, replace",
        ),
    ],
)
def test_bad_input_is_one_line_naming_field_and_value(rule: dict[str, Any], line: str) -> None:
    assert one_error(rule) == line


def test_prefix_entry_ranges() -> None:
    e = parse_prefix_entry("10.0.0.0/8 ge 24 le 28")
    assert (e.min_len, e.max_len) == (24, 28)
    assert parse_prefix_entry("10.50.0.0/16 le 32").min_len == 16
    assert parse_prefix_entry("2001:db8::/32 ge 48").max_len == 128
    assert parse_prefix_entry("10.50.0.0/16").max_len == 16


def test_round_trip_is_identity() -> None:
    raw = {
        "name": "prefer-primary",
        "rules": [
            {
                "name": "vips",
                "match": {
                    "prefixes": ["10.50.0.0/16 le 32", "2001:db8::/32  ge 48 le 64"],
                    "communities": ["65000:100", "NO-EXPORT"],
                    "large_communities": ["4200000001:1:1"],
                    "as_path": "^4200000002_",
                    "neighbors": ["web-2"],
                },
                "actions": {
                    "local_pref": 200,
                    "med": "-5",
                    "as_prepend": {"asn": "self", "repeat": 2},
                    "communities": {"add": ["65000:200"]},
                    "large_communities": {"replace": []},
                    "result": "continue",
                },
            },
            {"name": "rest", "actions": {"result": "reject"}},
        ],
    }
    ps = PolicySet.model_validate(raw)
    dumped = ps.model_dump(mode="json", exclude_defaults=True)
    assert PolicySet.model_validate(dumped) == ps
    assert dumped["rules"][0]["match"]["prefixes"][1] == "2001:db8::/32 ge 48 le 64"
    assert dumped["rules"][0]["match"]["communities"] == ["65000:100", "no-export"]
    assert dumped["rules"][0]["actions"]["large_communities"] == {"replace": []}
    a = PolicyAssignment(import_policies=["prefer-primary"], default_export="reject")
    assert PolicyAssignment.model_validate(a.model_dump(mode="json", exclude_defaults=True)) == a


def test_cross_object_checks() -> None:
    sets = [
        PolicySet.model_validate({"name": "a", "rules": [{"name": "r"}, {"name": "r"}]}),
        PolicySet.model_validate({"name": "a", "rules": [{"name": "x", "match": {"neighbors": ["ghost"]}}]}),
    ]
    assert check_policy_sets(sets) == [
        "policy_sets[0].rules[1].name: 'r' is a duplicate rule name",
        "policy_sets[1].name: 'a' is a duplicate policy set name",
    ]
    assert check_neighbors(sets, {"web-2"}) == [
        "policy_sets[1].rules[0].match.neighbors[0]: 'ghost' is not a mesh member or neighbour"
    ]
    a = PolicyAssignment(import_policies=["a", "nope"], export_policies=["a", "a"])
    assert validate_assignment(a, {"a"}) == [
        "import_policies[1]: 'nope' is not a known policy set",
        "export_policies[1]: 'a' is listed twice",
    ]
