"""Pure translation of policy sets + assignment into GoBGP defined sets, policies and assignments.

Output messages are plain dicts in protobuf JSON form (field names as in gobgp.proto, enums by name), so
golden files are readable and the adapter only has to `json_format.ParseDict` them.

Naming (everything the agent owns starts with `durantic-`; the reconciler never touches other names):

    policy        durantic-user:<set>~<hash>
    statement     durantic-user:<set>~<hash>:<rule>[:v4|:v6]
    defined set   durantic-user:<set>:<rule>:<kind>~<hash>

`<hash>` is a digest of the object's content. GoBGP merges an AddPolicy/AddDefinedSet into an existing
object of the same name and refuses to delete one in use, so a changed object gets a new name: the new
one is added, the assignment is switched to it in one SetPolicyAssignment, then the old one is deleted
(make before break, no moment without policy). An unchanged object keeps its name, so a no-op stays a
no-op. Agent-provided policies (e.g. the mesh "one relay hop" statement) are versioned the same way.

GoBGP refuses prefix sets that mix IPv4 and IPv6, so a rule with both becomes two statements.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.policies import OWNED_PREFIX, USER_PREFIX, DesiredPolicies, Msg, assignment_msg
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

GLOBAL = "global"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:10]


def _community_text(c: str) -> str:
    if c in WELL_KNOWN_COMMUNITIES:
        hi, lo = WELL_KNOWN_COMMUNITIES[c]
        return f"{hi}:{lo}"
    return c


def _community_action(op: str, values: Sequence[str]) -> Msg:
    return {"type": op.upper(), "communities": list(values)}


def _actions(a: Actions, my_asn: int) -> Msg:
    out: Msg = {"route_action": {"accept": "ACCEPT", "reject": "REJECT", "continue": "NONE"}[a.result]}
    if a.communities is not None:
        out["community"] = _community_action(a.communities.op, [_community_text(c) for c in a.communities.values])
    if a.large_communities is not None:
        out["large_community"] = _community_action(a.large_communities.op, a.large_communities.values)
    if a.med is not None:
        if isinstance(a.med, int):
            out["med"] = {"type": "REPLACE", "value": str(a.med)}
        else:
            out["med"] = {"type": "MOD", "value": str(int(a.med))}
    if a.as_prepend is not None:
        asn = my_asn if a.as_prepend.asn == "self" else int(a.as_prepend.asn)
        out["as_prepend"] = {"asn": asn, "repeat": a.as_prepend.repeat}
    if a.local_pref is not None:
        out["local_pref"] = {"value": a.local_pref}
    return out


def _neighbor_cidrs(names: Sequence[str], neighbors: Mapping[str, Sequence[str]], where: str) -> list[str]:
    out: set[str] = set()
    for n in names:
        addrs = neighbors.get(n)
        if not addrs:
            raise ValidationFailed(f"{where}: {n!r} is not a mesh member or neighbour with an address")
        for a in addrs:
            # GoBGP stores neighbour-set entries as prefixes and reads them back as such
            out.add(f"{a}/32" if ":" not in a else f"{a}/128")
    return sorted(out)


class _Builder:
    """Collects logical (unversioned) sets and policies, then versions every name by content."""

    def __init__(self) -> None:
        self.sets: dict[str, Msg] = {}
        self.policies: list[Msg] = []

    def add_set(self, name: str, defined_type: str, entries: list[Any]) -> str:
        body: Msg = {"defined_type": defined_type, "name": name}
        if defined_type == "PREFIX":
            body["prefixes"] = entries
        else:
            body["list"] = entries
        self.sets[name] = body
        return name

    def rule_statements(
        self,
        set_name: str,
        rule_name: str,
        match: Match,
        actions: Msg,
        neighbors: Mapping[str, Sequence[str]],
    ) -> list[Msg]:
        ps_rule = f"{USER_PREFIX}{set_name}:{rule_name}"
        cond: Msg = {}
        if match.communities:
            cond["community_set"] = {
                "type": "ANY",
                "name": self.add_set(
                    f"{ps_rule}:community",
                    "COMMUNITY",
                    sorted({_community_text(c) for c in match.communities}),
                ),
            }
        if match.large_communities:
            cond["large_community_set"] = {
                "type": "ANY",
                "name": self.add_set(
                    f"{ps_rule}:large-community", "LARGE_COMMUNITY", sorted(set(match.large_communities))
                ),
            }
        if match.as_path is not None:
            cond["as_path_set"] = {
                "type": "ANY",
                "name": self.add_set(f"{ps_rule}:as-path", "AS_PATH", [match.as_path]),
            }
        if match.neighbors:
            where = f"policy set {set_name!r} rule {rule_name!r} match.neighbors"
            cond["neighbor_set"] = {
                "type": "ANY",
                "name": self.add_set(
                    f"{ps_rule}:neighbor", "NEIGHBOR", _neighbor_cidrs(match.neighbors, neighbors, where)
                ),
            }
        by_family: dict[int, list[Msg]] = {}
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
            by_family.setdefault(e.version, []).append(
                {"ip_prefix": str(e.network), "mask_length_min": e.min_len, "mask_length_max": e.max_len}
            )
        if not by_family:
            return [{"name": rule_name, "conditions": cond, "actions": actions}]
        out = []
        for version, entries in sorted(by_family.items()):
            c = dict(cond)
            c["prefix_set"] = {
                "type": "ANY",
                "name": self.add_set(f"{ps_rule}:prefix-v{version}", "PREFIX", entries),
            }
            suffix = f":v{version}" if len(by_family) > 1 else ""
            out.append({"name": f"{rule_name}{suffix}", "conditions": c, "actions": actions})
        return out

    def user_policy(self, ps: PolicySet, my_asn: int, neighbors: Mapping[str, Sequence[str]]) -> Msg:
        statements: list[Msg] = []
        for rule in ps.rules:
            statements += self.rule_statements(
                ps.name, rule.name, rule.match, _actions(rule.actions, my_asn), neighbors
            )
        return {"name": f"{USER_PREFIX}{ps.name}", "statements": statements}


def _version(sets: Mapping[str, Msg], policies: Sequence[Msg]) -> tuple[dict[str, Msg], dict[str, Msg], dict[str, str]]:
    """Rename every set and policy to `<logical>~<digest of content>`; statements follow their policy."""
    set_names: dict[str, str] = {}
    out_sets: dict[str, Msg] = {}
    for logical, body in sets.items():
        content = {k: v for k, v in body.items() if k != "name"}
        name = f"{logical}~{_digest(content)}"
        set_names[logical] = name
        out_sets[name] = {**body, "name": name}
    out_policies: dict[str, Msg] = {}
    policy_names: dict[str, str] = {}
    for pol in policies:
        stmts = copy.deepcopy(pol["statements"])
        for st in stmts:
            for ms in st.get("conditions", {}).values():
                if isinstance(ms, dict) and ms.get("name") in set_names:
                    ms["name"] = set_names[ms["name"]]
        name = f"{pol['name']}~{_digest(stmts)}"
        for st in stmts:
            st["name"] = f"{name}:{st['name']}"
        policy_names[pol["name"]] = name
        out_policies[name] = {"name": name, "statements": stmts}
    return out_sets, out_policies, policy_names


def _check_agent_objects(agent_sets: Sequence[Msg], agent_policies: Sequence[Msg]) -> None:
    for obj in (*agent_sets, *agent_policies):
        n = str(obj.get("name", ""))
        if not n.startswith(OWNED_PREFIX) or n.startswith(USER_PREFIX) or "~" in n:
            raise ValueError(f"agent policy object name {n!r} must start with {OWNED_PREFIX!r}, not {USER_PREFIX!r}")
        for st in obj.get("statements", ()):
            if not st.get("name"):
                raise ValueError(f"agent policy {n!r} has a statement without a name")


def translate(
    policy_sets: Sequence[PolicySet],
    assignment: PolicyAssignment,
    *,
    my_asn: int,
    neighbors: Mapping[str, Sequence[str]] | None = None,
    agent_defined_sets: Sequence[Msg] = (),
    agent_import: Sequence[Msg] = (),
    agent_export: Sequence[Msg] = (),
    agent_import_last: Sequence[Msg] = (),
    agent_export_last: Sequence[Msg] = (),
) -> DesiredPolicies:
    """Build the GoBGP objects for the machine's assignment.

    - `neighbors`: neighbour/member name -> its peer addresses (for `match.neighbors`; on import the
      neighbour set matches the peer a route came from, on export the peer it is sent to).
    - `agent_defined_sets`, `agent_import`, `agent_export`: the agent's own DefinedSet/Policy dicts
      (same JSON form, logical names starting with `durantic-`, statements with short names). Their
      policies come first in the direction's list, before every user policy.
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
    for s in agent_defined_sets:
        b.sets[s["name"]] = copy.deepcopy(dict(s))
    logical: list[Msg] = [copy.deepcopy(dict(p)) for p in dict((p["name"], p) for p in agent_all).values()]
    for ps in used:
        logical.append(b.user_policy(ps, my_asn, neighbors))
    sets, policies, names = _version(b.sets, logical)

    imp = [names[p["name"]] for p in agent_import] + [names[USER_PREFIX + n] for n in assignment.import_policies]
    imp += [names[p["name"]] for p in agent_import_last]
    exp = [names[p["name"]] for p in agent_export] + [names[USER_PREFIX + n] for n in assignment.export_policies]
    exp += [names[p["name"]] for p in agent_export_last]
    return DesiredPolicies(
        defined_sets=sets,
        policies=policies,
        import_assignment=assignment_msg("IMPORT", imp, assignment.default_import),
        export_assignment=assignment_msg("EXPORT", exp, assignment.default_export),
    )
