"""The agent's import statements against hostile peers, placed before any user policy (pure).

- A mesh member with `allowed_prefixes` may announce only routes inside them (and its own mesh address):
  anything else it sends is rejected on import, as a control plane approves a subnet router's routes.
- A default route (0.0.0.0/0, ::/0) from an external neighbour is rejected unless that neighbour has
  `accept_default_route: true`: one neighbour's default would otherwise steer every flow of the machine
  (and, re-advertised, of the mesh) into it.
- RFC 8212 for external neighbours (`neighbour_defaults`, placed after every user policy, so a user
  rule's accept or reject wins): nothing is imported from a neighbour unless a user rule accepts it or the
  neighbour says `import: accept`; nothing but this machine's own routes is exported to a neighbour
  unless a user rule accepts it or the neighbour says `export: accept`. Mesh members are not affected.

A prefix set holds one address family and never matches a route of the other family, so each
restricted member gets one statement per family; a family with nothing allowed gets a set that only
holds the unspecified host (`0.0.0.0/32`, `::/128`, never a real route), so all of it is rejected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .core.policies import Conditions, MatchSet, Policy, PrefixMatch, SetRef, Statement, StatementActions

__all__ = [
    "DEFAULT_ROUTE_STATEMENT",
    "NeighbourDefaults",
    "PeerPolicies",
    "allowed_statement",
    "neighbour_defaults",
    "peer_policies",
]

POLICY = "durantic-agent:peer-in"
DEFAULT_ROUTE_STATEMENT = "no-default-route"
_NOTHING = {4: "0.0.0.0/32", 6: "::/128"}


def allowed_statement(member: str) -> str:
    """The statement that rejects `member`'s routes outside its allowed_prefixes (named in `rib` reasons)."""
    return f"allowed-prefixes:{member}"


@dataclass(frozen=True)
class PeerPolicies:
    defined_sets: list[MatchSet]
    import_policies: list[Policy]


def _host(addr: str) -> str:
    return f"{addr}/128" if ":" in addr else f"{addr}/32"


def _prefix_entry(net: str) -> PrefixMatch:
    n = ipaddress.ip_network(net)
    return PrefixMatch(str(n), n.prefixlen, n.max_prefixlen)


_REJECT = StatementActions(result="reject")


def _reject(name: str, neighbours: str, prefixes: str, invert: bool) -> Statement:
    """Reject routes from the neighbour set whose prefix matches (or, `invert`, does not match) the set."""
    return Statement(name, Conditions(neighbor_set=SetRef(neighbours), prefix_set=SetRef(prefixes, invert)), _REJECT)


def peer_policies(allowed: Mapping[str, tuple[str, Sequence[str]]], no_default_from: Iterable[str]) -> PeerPolicies:
    """`allowed`: member address -> (member name, its allowed prefixes); `no_default_from`: addresses of
    external neighbours whose default route is rejected."""
    sets: list[MatchSet] = []
    statements: list[Statement] = []
    for addr, (name, prefixes) in sorted(allowed.items()):
        nset = f"durantic-agent:member:{name}"
        sets.append(MatchSet(nset, "neighbor", (_host(addr),)))
        nets = [*prefixes, _host(addr)]
        for version in (4, 6):
            mine = [n for n in nets if ipaddress.ip_network(n).version == version] or [_NOTHING[version]]
            pset = f"durantic-agent:allowed:{name}:v{version}"
            sets.append(MatchSet(pset, "prefix", prefixes=tuple(_prefix_entry(n) for n in mine)))
            statements.append(_reject(f"{allowed_statement(name)}:v{version}", nset, pset, invert=True))
    neighbours = sorted(_host(a) for a in no_default_from)
    if neighbours:
        nset = "durantic-agent:no-default-route"
        sets.append(MatchSet(nset, "neighbor", tuple(neighbours)))
        for version, net in ((4, "0.0.0.0/0"), (6, "::/0")):
            pset = f"durantic-agent:default-route:v{version}"
            sets.append(MatchSet(pset, "prefix", prefixes=(PrefixMatch(net, 0, 0),)))
            statements.append(_reject(f"{DEFAULT_ROUTE_STATEMENT}:v{version}", nset, pset, invert=False))
    if not statements:
        return PeerPolicies([], [])
    return PeerPolicies(sets, [Policy(POLICY, tuple(statements))])


@dataclass(frozen=True)
class NeighbourDefaults:
    defined_sets: list[MatchSet]
    import_policies: list[Policy]
    export_policies: list[Policy]


def neighbour_defaults(reject_import: Iterable[str], own_export: Iterable[str]) -> NeighbourDefaults:
    """`reject_import`: neighbours whose routes are rejected unless a user rule accepted them;
    `own_export`: neighbours sent only this machine's own (local) routes unless a user rule accepted others."""
    sets: list[MatchSet] = []
    imp: list[Policy] = []
    exp: list[Policy] = []
    strict_in = sorted(_host(a) for a in reject_import)
    if strict_in:
        sets.append(MatchSet("durantic-agent:import-reject", "neighbor", tuple(strict_in)))
        cond = Conditions(neighbor_set=SetRef("durantic-agent:import-reject"))
        imp.append(Policy("durantic-agent:neighbour-in", (Statement("rfc8212-import", cond, _REJECT),)))
    strict_out = sorted(_host(a) for a in own_export)
    if strict_out:
        sets.append(MatchSet("durantic-agent:export-own", "neighbor", tuple(strict_out)))
        ref = SetRef("durantic-agent:export-own")
        exp.append(
            Policy(
                "durantic-agent:neighbour-out",
                tuple(
                    Statement(f"rfc8212-export-{kind}", Conditions(neighbor_set=ref, learned_from=kind), _REJECT)
                    for kind in ("external", "internal")
                ),
            )
        )
    return NeighbourDefaults(sets, imp, exp)
