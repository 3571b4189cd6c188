"""The agent's statements against hostile peers (peer_policy.py) as gobgpd stores them."""

from __future__ import annotations

from durantic_agent.core.policies import PrefixMatch
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.policy import reconcile_policies
from durantic_agent.peer_policy import neighbour_defaults, peer_policies
from durantic_agent.policy.model import PolicyAssignment, PolicySet
from durantic_agent.policy.translate import translate


def test_no_restrictions_no_policy() -> None:
    assert peer_policies({}, []).import_policies == []
    nd = neighbour_defaults([], [])
    assert nd.import_policies == [] and nd.export_policies == []


def test_a_restricted_member_gets_one_statement_per_family_and_its_own_address() -> None:
    pp = peer_policies({"100.64.0.1": ("a", ["192.168.60.0/24"])}, [])
    sets = {s.name: s for s in pp.defined_sets}
    assert sets["durantic-agent:allowed:a:v4"].prefixes == (
        PrefixMatch("192.168.60.0/24", 24, 32),
        PrefixMatch("100.64.0.1/32", 32, 32),
    )
    # nothing allowed in IPv6: a set that only holds the unspecified host, so every v6 route is rejected
    assert [e.prefix for e in sets["durantic-agent:allowed:a:v6"].prefixes] == ["::/128"]
    st = pp.import_policies[0].statements
    assert [s.conditions.prefix_set.invert for s in st if s.conditions.prefix_set] == [True, True]
    assert {s.actions.result for s in st} == {"reject"}


async def test_statements_survive_gobgpd_and_neighbour_defaults_come_after_user_policies(gobgpd: GobgpClient) -> None:
    await gobgpd.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=4200000001, router_id="192.0.2.9", listen_port=-1)}),
    )
    pp = peer_policies({"100.64.0.1": ("a", ["192.168.60.0/24", "2001:db8::/48"])}, ["192.0.2.1"])
    nd = neighbour_defaults(["192.0.2.1"], ["192.0.2.1"])
    user = PolicySet.model_validate(
        {"name": "u", "rules": [{"name": "r", "match": {"prefixes": ["10.0.0.0/8"]}, "actions": {"result": "accept"}}]}
    )
    want = translate(
        [user],
        PolicyAssignment(import_policies=["u"], export_policies=["u"]),
        my_asn=4200000001,
        agent_defined_sets=[*pp.defined_sets, *nd.defined_sets],
        agent_import=pp.import_policies,
        agent_import_last=nd.import_policies,
        agent_export_last=nd.export_policies,
    )
    assert (await reconcile_policies(gobgpd, want)).changed
    assert not (await reconcile_policies(gobgpd, want)).changed  # read back as written: no drift
    for direction, first, last in (
        (api.POLICY_DIRECTION_IMPORT, "durantic-agent:peer-in", "durantic-agent:neighbour-in"),
        (api.POLICY_DIRECTION_EXPORT, "durantic-user:u", "durantic-agent:neighbour-out"),
    ):
        resp = [
            r
            async for r in gobgpd.stream(
                "ListPolicyAssignment", api.ListPolicyAssignmentRequest(name="global", direction=direction)
            )
        ]
        names = [p.name for p in resp[0].assignment.policies]
        assert names[0].startswith(first) and names[-1].startswith(last), names
