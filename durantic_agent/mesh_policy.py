"""The agent's own policy statements for the mesh, placed before any user policy (pure).

Why (docs/gobgp.md, "Mesh"): in a full eBGP mesh where every member re-advertises
everything, a withdrawn route with no other origin is still in every RIB minutes later once the mesh has
15 or more members (path exploration; GoBGP has no MRAI). So mesh members are sent only this machine's
own routes and routes learned directly from their originator: GoBGP evaluates export policy after it
prepends the local AS, so "AS path >= 3" means "more than one relay hop". Transit still works: every
member hears every other member's routes via every relay.

The limit applies only to routes learned from the mesh: the agent tags them on import (a large
community of its own) and strips the tag on export, so routes from external neighbours, whatever their
AS path length, still reach the mesh, and the tag never leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .core.policies import CommunityEdit, Conditions, MatchSet, Policy, SetRef, Statement, StatementActions

__all__ = ["MESH_LEARNED_TAG", "MeshPolicies", "mesh_policies"]

# 65534 is a private ASN: the tag cannot collide with a real operator's large community.
MESH_LEARNED_TAG = "65534:1:1"
MEMBERS_SET = "durantic-agent:mesh-members"
TAG_SET = "durantic-agent:mesh-learned"
ROUTE_SERVERS_SET = "durantic-agent:route-servers"


@dataclass(frozen=True)
class MeshPolicies:
    defined_sets: list[MatchSet]
    import_policies: list[Policy]
    export_policies: list[Policy]


def _host(addr: str) -> str:
    return f"{addr}/128" if ":" in addr else f"{addr}/32"


def mesh_policies(
    member_addresses: Iterable[str], max_as_path: int = 3, route_servers: Iterable[str] = ()
) -> MeshPolicies:
    """`member_addresses`: every mesh peer (route servers included); `route_servers`: those peers that are
    route servers, sent only this machine's own routes."""
    rs = sorted(_host(a) for a in route_servers)
    members = sorted({_host(a) for a in member_addresses} | set(rs))
    if not members:
        return MeshPolicies([], [], [])
    sets = [
        MatchSet(MEMBERS_SET, "neighbor", tuple(members)),
        MatchSet(TAG_SET, "large-community", (MESH_LEARNED_TAG,)),
    ]
    tag = CommunityEdit("add", (MESH_LEARNED_TAG,))
    own_only: list[Statement] = []
    if rs:
        sets.append(MatchSet(ROUTE_SERVERS_SET, "neighbor", tuple(rs)))
        own_only.append(
            Statement(
                "own-routes-to-route-servers",
                Conditions(
                    neighbor_set=SetRef(ROUTE_SERVERS_SET),
                    large_community_set=SetRef(TAG_SET),
                    as_path_length_ge=2,
                ),
                StatementActions(result="reject"),
            )
        )
    imp = [
        Policy(
            "durantic-agent:mesh-in",
            (
                Statement(
                    "tag-mesh-learned",
                    Conditions(neighbor_set=SetRef(MEMBERS_SET)),
                    StatementActions(large_communities=tag),
                ),
            ),
        )
    ]
    exp = [
        Policy(
            "durantic-agent:mesh-out",
            (
                *own_only,
                Statement(
                    "one-relay-hop",
                    Conditions(
                        neighbor_set=SetRef(MEMBERS_SET),
                        large_community_set=SetRef(TAG_SET),
                        as_path_length_ge=max_as_path,
                    ),
                    StatementActions(result="reject"),
                ),
                Statement(
                    "strip-tag",
                    Conditions(large_community_set=SetRef(TAG_SET)),
                    StatementActions(large_communities=CommunityEdit("remove", (MESH_LEARNED_TAG,))),
                ),
            ),
        )
    ]
    return MeshPolicies(sets, imp, exp)
