from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from durantic_agent.core.policies import (
    Conditions,
    MatchSet,
    Policy,
    PolicyProgram,
    SetRef,
    Statement,
    StatementActions,
)
from durantic_agent.errors import ValidationFailed
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.policy import to_message
from durantic_agent.gobgp.policy_build import DesiredPolicies, gobgp_policies
from durantic_agent.policy import PolicyAssignment, PolicySet, translate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "policy"
CASES = sorted(p.name.removesuffix(".input.yaml") for p in GOLDEN.glob("*.input.yaml"))


def _agent_set(d: dict[str, Any]) -> MatchSet:
    return MatchSet(d["name"], d["kind"], tuple(d.get("entries", ())))


def _agent_policy(d: dict[str, Any]) -> Policy:
    def cond(c: dict[str, Any]) -> Conditions:
        kw: dict[str, Any] = {k: SetRef(**v) if isinstance(v, dict) else v for k, v in c.items()}
        return Conditions(**kw)

    return Policy(
        d["name"],
        tuple(
            Statement(st["name"], cond(st.get("conditions", {})), StatementActions(**st.get("actions", {})))
            for st in d["statements"]
        ),
    )


def program(doc: dict[str, Any]) -> PolicyProgram:
    """translate() of a golden input: policy sets, assignment, neighbours and the agent's own objects."""
    sets = [PolicySet.model_validate(s) for s in doc.get("policy_sets", [])]
    assignment = PolicyAssignment.model_validate(
        {k: doc[k] for k in ("import_policies", "export_policies", "default_import", "default_export") if k in doc}
    )
    return translate(
        sets,
        assignment,
        my_asn=doc["my_asn"],
        neighbors=doc.get("neighbors", {}),
        agent_defined_sets=[_agent_set(s) for s in doc.get("agent_defined_sets", [])],
        agent_import=[_agent_policy(p) for p in doc.get("agent_import", [])],
        agent_export=[_agent_policy(p) for p in doc.get("agent_export", [])],
    )


def run_case(doc: dict[str, Any]) -> DesiredPolicies:
    """The GoBGP objects the adapter makes of it."""
    return gobgp_policies(program(doc))


@pytest.mark.parametrize("case", CASES)
def test_translation_matches_golden(case: str) -> None:
    doc = yaml.safe_load((GOLDEN / f"{case}.input.yaml").read_text())
    got = run_case(doc).to_json()
    path = GOLDEN / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(path.read_text()), f"regenerate with UPDATE_GOLDEN=1 and review {path}"


@pytest.mark.parametrize("case", CASES)
def test_golden_messages_parse_as_gobgp_protobuf(case: str) -> None:
    got = json.loads((GOLDEN / f"{case}.json").read_text())
    for s in got["defined_sets"]:
        to_message(s, api.DefinedSet())
    for p in got["policies"]:
        to_message(p, api.Policy())
    for a in got["assignments"]:
        to_message(a, api.PolicyAssignment())


def design() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((GOLDEN / "design_example.input.yaml").read_text())
    return doc


def test_agent_policies_come_first_and_everything_is_owned() -> None:
    d = run_case(design())
    exp = [p["name"] for p in d.export_assignment["policies"]]
    assert exp[0].startswith("durantic-agent:mesh-out~")
    assert exp[1].startswith("durantic-user:to-tor~") and exp[2].startswith("durantic-user:prefer-primary~")
    assert d.export_assignment["default_action"] == "REJECT"
    assert all(n.startswith("durantic-") for n in (*d.defined_sets, *d.policies))
    assert not any("unused" in n for n in d.policies)  # unassigned sets are not pushed


def test_mixed_families_split_into_statements() -> None:
    d = run_case(design())
    (tor,) = [p for n, p in d.policies.items() if "to-tor" in n]
    names = [s["name"].rsplit(":", 2)[-2:] for s in tor["statements"]]
    assert names == [["drop-bogons", "v4"], ["drop-bogons", "v6"], [tor["name"].split(":")[1], "tag"]]


def test_a_change_renames_only_what_changed() -> None:
    before = run_case(design())
    doc = design()
    doc["policy_sets"][1]["rules"][0]["match"]["prefixes"][0] = "10.0.0.0/8 ge 24 le 30"
    after = run_case(doc)
    assert set(before.defined_sets) ^ set(after.defined_sets) == {
        n for n in (*before.defined_sets, *after.defined_sets) if "drop-bogons:prefix-v4" in n
    }
    changed = set(before.policies) ^ set(after.policies)
    assert {n.split("~")[0] for n in changed} == {"durantic-user:to-tor"}
    assert run_case(design()) == before  # deterministic


def test_well_known_and_med_adjust_translate_to_numbers() -> None:
    d = run_case(design())
    (tor,) = [p for n, p in d.policies.items() if "to-tor" in n]
    tag = tor["statements"][-1]
    assert tag["actions"]["community"] == {"type": "REPLACE", "communities": ["65535:0"]}
    assert tag["actions"]["med"] == {"type": "MOD", "value": "10"}
    assert tag["actions"]["route_action"] == "NONE"
    nset = d.defined_sets[tag["conditions"]["neighbor_set"]["name"]]
    assert nset["list"] == ["100.64.0.3/32", "192.0.2.1/32", "fd00::3/128"]


def test_cross_object_errors_raise_validation_failed() -> None:
    doc = design()
    doc["import_policies"] = ["nope"]
    with pytest.raises(ValidationFailed, match=r"import_policies\[0\]: 'nope' is not a known policy set"):
        run_case(doc)
    doc = design()
    doc["neighbors"].pop("tor1")
    with pytest.raises(ValidationFailed, match=r"match.neighbors\[0\]: 'tor1' is not a mesh member"):
        run_case(doc)
