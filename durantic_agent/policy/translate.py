"""Pure translation of policy sets + assignment into the machine's PolicyProgram (core/policies.py).

User objects get logical names under `durantic-user:` (policy `<set>`, statement `<rule>[:v4|:v6]`, set
`<set>:<rule>:<kind>`); the BGP adapter versions them. A prefix set holds one address family (GoBGP
refuses sets that mix them), so a rule with both becomes two statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..core.policies import (
    OWNED_PREFIX,
    USER_PREFIX,
    CommunityEdit,
    Conditions,
    MatchSet,
    MedAction,
    Policy,
    PolicyProgram,
    PrefixMatch,
    SetKind,
    SetRef,
    Statement,
    StatementActions,
)
from ..errors import ValidationFailed
from .model import (
    WELL_KNOWN_COMMUNITIES,
    Actions,
    Match,
    PolicyAssignment,
    PolicySet,
    check_neighbors,
    check_policy_sets,
    parse_prefix_entry,
    validate_assignment,
)

__all__ = ["translate"]


def _community_text(c: str) -> str:
    if c in WELL_KNOWN_COMMUNITIES:
        hi, lo = WELL_KNOWN_COMMUNITIES[c]
        return f"{hi}:{lo}"
    return c


def _actions(a: Actions, my_asn: int) -> StatementActions:
    med = None
    if a.med is not None:
        med = MedAction("set", a.med) if isinstance(a.med, int) else MedAction("adjust", int(a.med))
    prepend = None
    if a.as_prepend is not None:
        prepend = (my_asn if a.as_prepend.asn == "self" else int(a.as_prepend.asn), a.as_prepend.repeat)
    return StatementActions(
        result=a.result,
        communities=(
            CommunityEdit(a.communities.op, tuple(_community_text(c) for c in a.communities.values))
            if a.communities is not None
            else None
        ),
        large_communities=(
            CommunityEdit(a.large_communities.op, tuple(a.large_communities.values))
            if a.large_communities is not None
            else None
        ),
        med=med,
        as_prepend=prepend,
        local_pref=a.local_pref,
    )


def _neighbor_cidrs(names: Sequence[str], neighbors: Mapping[str, Sequence[str]], where: str) -> list[str]:
    out: set[str] = set()
    for n in names:
        addrs = neighbors.get(n)
        if not addrs:
            raise ValidationFailed(f"{where}: {n!r} is not a mesh member or neighbour with an address")
        for a in addrs:
            # a neighbour set holds host prefixes (the speaker stores and reads them back as such)
            out.add(f"{a}/32" if ":" not in a else f"{a}/128")
    return sorted(out)


class _Builder:
    """Collects the match sets of the user policies it builds."""

    def __init__(self) -> None:
        self.sets: dict[str, MatchSet] = {}

    def add_set(
        self, name: str, kind: SetKind, entries: Sequence[str] = (), prefixes: Sequence[PrefixMatch] = ()
    ) -> SetRef:
        self.sets[name] = MatchSet(name, kind, tuple(entries), tuple(prefixes))
        return SetRef(name)

    def rule_statements(
        self,
        set_name: str,
        rule_name: str,
        match: Match,
        actions: StatementActions,
        neighbors: Mapping[str, Sequence[str]],
    ) -> list[Statement]:
        ps_rule = f"{USER_PREFIX}{set_name}:{rule_name}"
        community_set = large_community_set = as_path_set = neighbor_set = None
        if match.communities:
            community_set = self.add_set(
                f"{ps_rule}:community", "community", sorted({_community_text(c) for c in match.communities})
            )
        if match.large_communities:
            large_community_set = self.add_set(
                f"{ps_rule}:large-community", "large-community", sorted(set(match.large_communities))
            )
        if match.as_path is not None:
            as_path_set = self.add_set(f"{ps_rule}:as-path", "as-path", [match.as_path])
        if match.neighbors:
            where = f"policy set {set_name!r} rule {rule_name!r} match.neighbors"
            neighbor_set = self.add_set(
                f"{ps_rule}:neighbor", "neighbor", _neighbor_cidrs(match.neighbors, neighbors, where)
            )
        cond = Conditions(
            neighbor_set=neighbor_set,
            community_set=community_set,
            large_community_set=large_community_set,
            as_path_set=as_path_set,
        )
        by_family: dict[int, list[PrefixMatch]] = {}
        for e in sorted(
            {parse_prefix_entry(p) for p in match.prefixes},
            key=lambda e: (
                e.version,
                int(e.network.network_address),
                e.network.prefixlen,
                e.min_len,
                e.max_len,
            ),
        ):
            by_family.setdefault(e.version, []).append(PrefixMatch(str(e.network), e.min_len, e.max_len))
        if not by_family:
            return [Statement(rule_name, cond, actions)]
        out = []
        for version, entries in sorted(by_family.items()):
            prefix_set = self.add_set(f"{ps_rule}:prefix-v{version}", "prefix", prefixes=entries)
            suffix = f":v{version}" if len(by_family) > 1 else ""
            out.append(Statement(f"{rule_name}{suffix}", replace(cond, prefix_set=prefix_set), actions))
        return out

    def user_policy(self, ps: PolicySet, my_asn: int, neighbors: Mapping[str, Sequence[str]]) -> Policy:
        statements: list[Statement] = []
        for rule in ps.rules:
            statements += self.rule_statements(
                ps.name, rule.name, rule.match, _actions(rule.actions, my_asn), neighbors
            )
        return Policy(f"{USER_PREFIX}{ps.name}", tuple(statements))


def _check_agent_objects(agent_sets: Sequence[MatchSet], agent_policies: Sequence[Policy]) -> None:
    for n in (*(s.name for s in agent_sets), *(p.name for p in agent_policies)):
        if not n.startswith(OWNED_PREFIX) or n.startswith(USER_PREFIX) or "~" in n:
            raise ValueError(f"agent policy object name {n!r} must start with {OWNED_PREFIX!r}, not {USER_PREFIX!r}")
    for p in agent_policies:
        for st in p.statements:
            if not st.name:
                raise ValueError(f"agent policy {p.name!r} has a statement without a name")


def translate(
    policy_sets: Sequence[PolicySet],
    assignment: PolicyAssignment,
    *,
    my_asn: int,
    neighbors: Mapping[str, Sequence[str]] | None = None,
    agent_defined_sets: Sequence[MatchSet] = (),
    agent_import: Sequence[Policy] = (),
    agent_export: Sequence[Policy] = (),
    agent_import_last: Sequence[Policy] = (),
    agent_export_last: Sequence[Policy] = (),
) -> PolicyProgram:
    """Build the machine's policy program for its assignment.

    - `neighbors`: neighbour/member name -> its peer addresses (for `match.neighbors`; on import the
      neighbour set matches the peer a route came from, on export the peer it is sent to).
    - `agent_defined_sets`, `agent_import`, `agent_export`: the agent's own sets and policies (names
      starting with `durantic-`, not `durantic-user:`). Their policies come first in the direction's
      list, before every user policy.
    - `agent_import_last`, `agent_export_last`: the agent's policies placed after every user policy (a
      default that a user rule's accept or reject overrides).
    Only sets named in the assignment are translated. Raises ValidationFailed on cross-object errors
    (duplicate names, unknown set in the assignment, unknown neighbour).
    """
    neighbors = neighbors or {}
    errors = check_policy_sets(policy_sets)
    errors += validate_assignment(assignment, {ps.name for ps in policy_sets})
    by_name = {ps.name: ps for ps in policy_sets}
    used = [
        by_name[n] for n in dict.fromkeys((*assignment.import_policies, *assignment.export_policies)) if n in by_name
    ]
    errors += (
        check_neighbors(policy_sets, neighbors.keys())
        if any(r.match.neighbors for ps in used for r in ps.rules)
        else []
    )
    if errors:
        raise ValidationFailed(errors[0])
    agent_all = (*agent_import, *agent_export, *agent_import_last, *agent_export_last)
    _check_agent_objects(agent_defined_sets, agent_all)

    b = _Builder()
    policies = {p.name: p for p in agent_all}
    for ps in used:
        policies[USER_PREFIX + ps.name] = b.user_policy(ps, my_asn, neighbors)
    sets = {s.name: s for s in agent_defined_sets}
    sets.update(b.sets)
    return PolicyProgram(
        sets=tuple(sets.values()),
        policies=tuple(policies.values()),
        import_policies=(
            *(p.name for p in agent_import),
            *(USER_PREFIX + n for n in assignment.import_policies),
            *(p.name for p in agent_import_last),
        ),
        export_policies=(
            *(p.name for p in agent_export),
            *(USER_PREFIX + n for n in assignment.export_policies),
            *(p.name for p in agent_export_last),
        ),
        default_import=assignment.default_import,
        default_export=assignment.default_export,
    )
