"""Who peers with whom in a mesh (pure): a full mesh, or route servers in the middle (docs/scaling.md).

Full mesh: one session to every other member. With `route_servers`, every member's gobgpd peers only
with the route servers, and each route server is a second gobgpd, run by that member's agent on its mesh
address and `route_server_port`, whose peers are every member (this machine's own gobgpd included) as
route-server clients. It has to be a second gobgpd: GoBGP keeps route-server clients' paths in their own
RIBs, never in the global one, and sends them none of its own local paths (docs/gobgp.md), so one
gobgpd cannot both serve the mesh and be a member of it. WireGuard stays a full mesh either way: traffic
goes to the next hop directly, and a route server passes next hops on unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .config.schema import Mesh, MeshMember
from .core.policies import PolicyProgram
from .core.types import PeerSpec
from .peer_policy import peer_policies
from .policy.model import PolicyAssignment
from .policy.translate import translate

__all__ = ["RouteServerSpec", "is_route_server", "mesh_peers", "route_server", "route_server_addresses"]

# Mesh sessions may ride a relay (transit): one forwarding hop costs one TTL.
_MESH_TTL = 3


@dataclass(frozen=True)
class RouteServerSpec:
    """The route-server gobgpd this machine runs for one mesh."""

    mesh: str
    asn: int
    router_id: str
    address: str  # listens here (the mesh address) ...
    port: int  # ... on this port
    peers: Mapping[str, PeerSpec] = field(default_factory=dict)
    # the members' allowed_prefixes, as each client's import policy (a route server has no other policy)
    policies: PolicyProgram = field(default_factory=PolicyProgram)


def _own(mesh: Mesh) -> MeshMember | None:
    return next((m for m in mesh.members or [] if m.address == mesh.address.ip), None)


def is_route_server(mesh: Mesh) -> bool:
    own = _own(mesh)
    return own is not None and own.name in (mesh.route_servers or ())


def route_server_addresses(mesh: Mesh) -> list[str]:
    """The mesh addresses of the mesh's route servers (none: a full mesh)."""
    names = set(mesh.route_servers or ())
    return [str(m.address) for m in mesh.members or [] if m.name in names]


def _max_prefixes(mesh: Mesh, m: MeshMember) -> int | None:
    return m.max_prefixes if m.max_prefixes is not None else mesh.max_prefixes


def mesh_peers(mesh: Mesh, timers: Mapping[str, Any]) -> dict[str, PeerSpec]:
    """This machine's own gobgpd's sessions in `mesh`: every other member, or only the route servers."""
    own_ip = mesh.address.ip
    peers: dict[str, PeerSpec] = {}
    if mesh.route_servers is None:
        for m in mesh.members or []:
            if m.address == own_ip:
                continue  # this machine
            peers[str(m.address)] = PeerSpec(
                name=m.name,
                address=str(m.address),
                asn=m.asn,
                kind="member",
                local_address=str(own_ip),
                bind_interface=mesh.ifname,
                multihop_ttl=_MESH_TTL,
                max_prefixes=_max_prefixes(mesh, m),
                **timers,
            )
        return peers
    by_name = {m.name: m for m in mesh.members or []}
    for name in mesh.route_servers:
        rs = by_name[name]
        me = rs.address == own_ip  # our own route server: a session over the local address, no tunnel
        peers[str(rs.address)] = PeerSpec(
            name=rs.name,
            address=str(rs.address),
            asn=mesh.route_server_asn,
            kind="member",
            port=mesh.route_server_port,
            local_address=str(own_ip),
            bind_interface=None if me else mesh.ifname,
            multihop_ttl=None if me else _MESH_TTL,
            # each member's limit is enforced by the route servers, on its own session there
            **timers,
        )
    return peers


def route_server(mesh: Mesh, router_id: str, member_port: int, timers: Mapping[str, Any]) -> RouteServerSpec | None:
    """The route-server gobgpd this machine runs for `mesh`, or None when it is not one of its route
    servers. Its clients are every member, this machine included, at their BGP port `member_port`."""
    if not is_route_server(mesh):
        return None
    policies = route_server_policies(mesh)
    imports = tuple(policies.import_policies)
    version = hashlib.sha256(repr(policies).encode()).hexdigest()[:16]
    own_ip = mesh.address.ip
    peers: dict[str, PeerSpec] = {}
    for m in mesh.members or []:
        me = m.address == own_ip
        peers[str(m.address)] = PeerSpec(
            name=m.name,
            address=str(m.address),
            asn=m.asn,
            kind="member",
            port=member_port,
            local_address=str(own_ip),
            bind_interface=None if me else mesh.ifname,
            multihop_ttl=None if me else _MESH_TTL,
            max_prefixes=_max_prefixes(mesh, m),
            route_server_client=True,
            **timers,
        )
        if m.allowed_prefixes is not None:
            peers[str(m.address)] = replace(
                peers[str(m.address)], import_policies=imports, import_policies_version=version
            )
    return RouteServerSpec(
        mesh.name, mesh.route_server_asn, router_id, str(own_ip), mesh.route_server_port, peers, policies
    )


def route_server_policies(mesh: Mesh) -> PolicyProgram:
    """A route server enforces every member's `allowed_prefixes` on what that member sends: its clients
    hear the member's routes from the route server, so their own check (on the session) never sees them."""
    allowed = {
        str(m.address): (m.name, [str(n) for n in m.allowed_prefixes])
        for m in mesh.members or []
        if m.allowed_prefixes is not None
    }
    pp = peer_policies(allowed, ())
    return translate(
        [],
        PolicyAssignment(),
        my_asn=mesh.route_server_asn,
        agent_defined_sets=pp.defined_sets,
        agent_import=pp.import_policies,
    )
