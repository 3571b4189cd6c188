from __future__ import annotations

from durantic_agent.core.policies import CommunityEdit, SetRef, StatementActions
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.policy import reconcile_policies
from durantic_agent.mesh_policy import MESH_LEARNED_TAG, mesh_policies
from durantic_agent.policy.model import PolicyAssignment
from durantic_agent.policy.translate import translate


def test_no_members_no_policy() -> None:
    mp = mesh_policies([])
    assert mp.defined_sets == [] and mp.export_policies == []


def test_one_relay_hop_statement_shape() -> None:
    mp = mesh_policies(["100.64.0.3", "100.64.0.2", "fd00::2"])
    members = mp.defined_sets[0]
    assert members.kind == "neighbor" and members.entries == ("100.64.0.2/32", "100.64.0.3/32", "fd00::2/128")
    hop = mp.export_policies[0].statements[0]
    assert hop.conditions.as_path_length_ge == 3 and hop.conditions.neighbor_set == SetRef(members.name)
    assert hop.actions == StatementActions(result="reject")
    strip = mp.export_policies[0].statements[1]
    assert strip.actions.large_communities == CommunityEdit("remove", (MESH_LEARNED_TAG,))


async def test_mesh_policies_reconcile_then_noop(gobgpd: GobgpClient) -> None:
    """The agent's mesh statements survive gobgpd's read-back: the second pass changes nothing, and the
    export assignment puts them before user policies."""
    await gobgpd.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=4200000001, router_id="192.0.2.9", listen_port=-1)}),
    )
    mp = mesh_policies(["100.64.0.2", "100.64.0.3"])
    want = translate(
        [],
        PolicyAssignment(),
        my_asn=4200000001,
        agent_defined_sets=mp.defined_sets,
        agent_import=mp.import_policies,
        agent_export=mp.export_policies,
    )
    first = await reconcile_policies(gobgpd, want)
    assert first.export_changed and first.import_changed
    second = await reconcile_policies(gobgpd, want)
    assert not second.changed
    resp = [
        r
        async for r in gobgpd.stream(
            "ListPolicyAssignment",
            api.ListPolicyAssignmentRequest(name="global", direction=api.POLICY_DIRECTION_EXPORT),
        )
    ]
    names = [p.name for p in resp[0].assignment.policies]
    assert names and names[0].startswith("durantic-agent:mesh-out")
