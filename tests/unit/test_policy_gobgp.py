"""The policy reconciler against a real gobgpd: converge, no-op, change, foreign objects untouched."""

from __future__ import annotations

from typing import Any

import yaml
from google.protobuf import json_format

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.policy import plan_policies, read_policies, reconcile_policies
from tests.unit.test_policy_translate import GOLDEN, program, run_case


async def start(client: GobgpClient) -> None:
    await client.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=4200000001, router_id="192.0.2.9", listen_port=-1)}),
    )


def design() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((GOLDEN / "design_example.input.yaml").read_text())
    return doc


async def test_converges_then_noop_then_minimal_change(gobgpd: GobgpClient) -> None:
    await start(gobgpd)
    # a foreign set + policy in the export list must survive everything
    await gobgpd.call(
        "AddDefinedSet",
        json_format.ParseDict(
            {"defined_set": {"defined_type": "DEFINED_TYPE_COMMUNITY", "name": "ops-set", "list": ["1:1"]}},
            api.AddDefinedSetRequest(),
        ),
    )
    await gobgpd.call(
        "AddPolicy",
        json_format.ParseDict(
            {
                "policy": {
                    "name": "ops",
                    "statements": [
                        {
                            "name": "ops-1",
                            "conditions": {"community_set": {"type": "TYPE_ANY", "name": "ops-set"}},
                            "actions": {"route_action": "ROUTE_ACTION_REJECT"},
                        }
                    ],
                }
            },
            api.AddPolicyRequest(),
        ),
    )
    await gobgpd.call(
        "SetPolicyAssignment",
        json_format.ParseDict(
            {
                "assignment": {
                    "name": "global",
                    "direction": "POLICY_DIRECTION_EXPORT",
                    "policies": [{"name": "ops"}],
                    "default_action": "ROUTE_ACTION_ACCEPT",
                }
            },
            api.SetPolicyAssignmentRequest(),
        ),
    )
    desired = run_case(design())
    ch = await reconcile_policies(gobgpd, program(design()))
    assert ch.import_changed and ch.export_changed
    assert set(ch.added_policies) == set(desired.policies)
    assert ch.reset_directions == ("IMPORT", "EXPORT")

    current = await read_policies(gobgpd)
    assert plan_policies(desired, current).empty
    assert [p["name"] for p in current.assignments["EXPORT"]["policies"]] == [
        *(p["name"] for p in desired.export_assignment["policies"]),
        "ops",
    ]
    assert current.assignments["EXPORT"]["default_action"] == "REJECT"
    noop = await reconcile_policies(gobgpd, program(design()))
    assert not noop.changed and noop.reset_directions == ()

    doc = design()
    doc["policy_sets"][1]["rules"][0]["match"]["prefixes"][0] = "10.0.0.0/8 ge 24 le 30"
    changed = run_case(doc)
    ch = await reconcile_policies(gobgpd, program(doc))
    assert not ch.import_changed and ch.export_changed  # to-tor is exported only
    assert [n.split("~")[0] for n in ch.added_policies] == ["durantic-user:to-tor"]
    assert [n.split("~")[0] for n in ch.added_sets] == ["durantic-user:to-tor:drop-bogons:prefix-v4"]
    assert [n.split("~")[0] for n in ch.deleted_sets] == ["durantic-user:to-tor:drop-bogons:prefix-v4"]
    assert plan_policies(changed, await read_policies(gobgpd)).empty

    # everything removed: owned objects gone, foreign ones intact, defaults back to accept
    await reconcile_policies(gobgpd, program({"my_asn": 4200000001, "policy_sets": []}))
    after = await read_policies(gobgpd)
    assert after.defined_sets == {} and after.policies == {}
    assert after.assignments["EXPORT"]["policies"] == [{"name": "ops"}]
    assert after.assignments["IMPORT"]["default_action"] == "ACCEPT"
    names = [
        r.defined_set.name
        async for r in gobgpd.stream(
            "ListDefinedSet", api.ListDefinedSetRequest(defined_type=api.DEFINED_TYPE_COMMUNITY)
        )
    ]
    assert names == ["ops-set"]


async def test_drift_is_repaired(gobgpd: GobgpClient) -> None:
    await start(gobgpd)
    desired = run_case(design())
    await reconcile_policies(gobgpd, program(design()))
    (cset,) = [n for n in desired.defined_sets if n.startswith("durantic-user:prefer-primary:vips:community")]
    # someone appends to our set and removes our export assignment
    await gobgpd.call(
        "AddDefinedSet",
        json_format.ParseDict(
            {"defined_set": {"defined_type": "DEFINED_TYPE_COMMUNITY", "name": cset, "list": ["9:9"]}},
            api.AddDefinedSetRequest(),
        ),
    )
    await gobgpd.call(
        "SetPolicyAssignment",
        json_format.ParseDict(
            {
                "assignment": {
                    "name": "global",
                    "direction": "POLICY_DIRECTION_EXPORT",
                    "default_action": "ROUTE_ACTION_ACCEPT",
                }
            },
            api.SetPolicyAssignmentRequest(),
        ),
    )
    ch = await reconcile_policies(gobgpd, program(design()))
    assert ch.import_changed and ch.export_changed
    assert plan_policies(desired, await read_policies(gobgpd)).empty
