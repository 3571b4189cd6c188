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
from typing import Any

__all__ = ["MESH_LEARNED_TAG", "MeshPolicies", "mesh_policies"]

# 65534 is a private ASN: the tag cannot collide with a real operator's large community.
MESH_LEARNED_TAG = "65534:1:1"
MEMBERS_SET = "durantic-agent:mesh-members"
TAG_SET = "durantic-agent:mesh-learned"


@dataclass(frozen=True)
class MeshPolicies:
    defined_sets: list[dict[str, Any]]
    import_policies: list[dict[str, Any]]
    export_policies: list[dict[str, Any]]


def _host(addr: str) -> str:
    return f"{addr}/128" if ":" in addr else f"{addr}/32"


def mesh_policies(member_addresses: Iterable[str], max_as_path: int = 3) -> MeshPolicies:
    members = sorted(_host(a) for a in member_addresses)
    if not members:
        return MeshPolicies([], [], [])
    sets = [
        {"defined_type": "NEIGHBOR", "name": MEMBERS_SET, "list": members},
        {"defined_type": "LARGE_COMMUNITY", "name": TAG_SET, "list": [MESH_LEARNED_TAG]},
    ]
    imp = [
        {
            "name": "durantic-agent:mesh-in",
            "statements": [
                {
                    "name": "tag-mesh-learned",
                    "conditions": {"neighbor_set": {"type": "ANY", "name": MEMBERS_SET}},
                    "actions": {"large_community": {"type": "ADD", "communities": [MESH_LEARNED_TAG]}},
                }
            ],
        }
    ]
    exp = [
        {
            "name": "durantic-agent:mesh-out",
            "statements": [
                {
                    "name": "one-relay-hop",
                    "conditions": {
                        "neighbor_set": {"type": "ANY", "name": MEMBERS_SET},
                        "large_community_set": {"type": "ANY", "name": TAG_SET},
                        "as_path_length": {"type": "GE", "length": max_as_path},
                    },
                    "actions": {"route_action": "REJECT"},
                },
                {
                    "name": "strip-tag",
                    "conditions": {"large_community_set": {"type": "ANY", "name": TAG_SET}},
                    "actions": {"large_community": {"type": "REMOVE", "communities": [MESH_LEARNED_TAG]}},
                },
            ],
        }
    ]
    return MeshPolicies(sets, imp, exp)
