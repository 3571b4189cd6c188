"""A PolicyProgram as GoBGP defined sets, policies and global assignments, each name versioned by content.

Messages are plain dicts in protobuf JSON form (field names as in gobgp.proto, enums by their short name:
"PREFIX", "ANY", "ACCEPT"), so golden files are readable; gobgp/policy.py turns them into messages.

Naming (everything the agent owns starts with `durantic-`; the reconciler never touches other names):

    policy        durantic-user:<set>~<hash>
    statement     durantic-user:<set>~<hash>:<rule>[:v4|:v6]
    defined set   durantic-user:<set>:<rule>:<kind>~<hash>

`<hash>` is a digest of the object's content. GoBGP merges an AddPolicy/AddDefinedSet into an existing
object of the same name and refuses to delete one in use, so a changed object gets a new name: the new
one is added, the assignment is switched to it in one SetPolicyAssignment, then the old one is deleted
(make before break, no moment without policy). An unchanged object keeps its name, so a no-op stays a
no-op. The agent's own policies (e.g. the mesh "one relay hop" statement) are versioned the same way.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.policies import Conditions, MatchSet, Policy, PolicyProgram, SetRef, Statement, StatementActions

__all__ = ["DesiredPolicies", "Msg", "assignment_msg", "gobgp_policies", "gobgp_policy_names"]

Msg = dict[str, Any]

_SET_TYPES = {
    "prefix": "PREFIX",
    "neighbor": "NEIGHBOR",
    "as-path": "AS_PATH",
    "community": "COMMUNITY",
    "large-community": "LARGE_COMMUNITY",
}
_ROUTE_ACTIONS = {"accept": "ACCEPT", "reject": "REJECT", "continue": "NONE"}


@dataclass(frozen=True)
class DesiredPolicies:
    """What gobgpd should hold: defined sets and policies by name, and the two global assignments."""

    defined_sets: Mapping[str, Msg] = field(default_factory=dict)  # name -> DefinedSet
    policies: Mapping[str, Msg] = field(default_factory=dict)  # name -> Policy (with statements)
    import_assignment: Msg = field(default_factory=lambda: assignment_msg("IMPORT", [], "accept"))
    export_assignment: Msg = field(default_factory=lambda: assignment_msg("EXPORT", [], "accept"))

    def to_json(self) -> Msg:
        """Stable, readable form (golden files)."""
        return {
            "defined_sets": [self.defined_sets[k] for k in sorted(self.defined_sets)],
            "policies": [self.policies[k] for k in sorted(self.policies)],
            "assignments": [self.import_assignment, self.export_assignment],
        }


def assignment_msg(direction: str, policies: Sequence[str], default: str) -> Msg:
    return {
        "name": "global",
        "direction": direction,
        "policies": [{"name": p} for p in policies],
        "default_action": "ACCEPT" if default == "accept" else "REJECT",
    }


def _set_msg(s: MatchSet) -> Msg:
    body: Msg = {"defined_type": _SET_TYPES[s.kind], "name": s.name}
    if s.kind == "prefix":
        body["prefixes"] = [
            {"ip_prefix": p.prefix, "mask_length_min": p.min_len, "mask_length_max": p.max_len} for p in s.prefixes
        ]
    else:
        body["list"] = list(s.entries)
    return body


def _ref(r: SetRef) -> Msg:
    return {"type": "INVERT" if r.invert else "ANY", "name": r.name}


def _conditions(c: Conditions) -> Msg:
    out: Msg = {}
    for key in ("community_set", "large_community_set", "as_path_set", "neighbor_set", "prefix_set"):
        ref = getattr(c, key)
        if ref is not None:
            out[key] = _ref(ref)
    if c.as_path_length_ge is not None:
        out["as_path_length"] = {"type": "GE", "length": c.as_path_length_ge}
    if c.learned_from is not None:
        out["route_type"] = c.learned_from.upper()
    return out


def _actions(a: StatementActions) -> Msg:
    out: Msg = {"route_action": _ROUTE_ACTIONS[a.result]}
    if a.communities is not None:
        out["community"] = {"type": a.communities.op.upper(), "communities": list(a.communities.values)}
    if a.large_communities is not None:
        out["large_community"] = {
            "type": a.large_communities.op.upper(),
            "communities": list(a.large_communities.values),
        }
    if a.med is not None:
        out["med"] = {"type": "REPLACE" if a.med.op == "set" else "MOD", "value": str(a.med.value)}
    if a.as_prepend is not None:
        out["as_prepend"] = {"asn": a.as_prepend[0], "repeat": a.as_prepend[1]}
    if a.local_pref is not None:
        out["local_pref"] = {"value": a.local_pref}
    return out


def _statement_msg(st: Statement) -> Msg:
    return {"name": st.name, "conditions": _conditions(st.conditions), "actions": _actions(st.actions)}


def _policy_msg(p: Policy) -> Msg:
    return {"name": p.name, "statements": [_statement_msg(st) for st in p.statements]}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:10]


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


def gobgp_policies(program: PolicyProgram) -> DesiredPolicies:
    """The GoBGP objects for `program`, named by content (see the module docstring)."""
    sets, policies, names = _version(
        {s.name: _set_msg(s) for s in program.sets}, [_policy_msg(p) for p in program.policies]
    )
    return DesiredPolicies(
        defined_sets=sets,
        policies=policies,
        import_assignment=assignment_msg("IMPORT", [names[n] for n in program.import_policies], program.default_import),
        export_assignment=assignment_msg("EXPORT", [names[n] for n in program.export_policies], program.default_export),
    )


def gobgp_policy_names(program: PolicyProgram) -> dict[str, str]:
    """Each of the program's policy names -> the name gobgpd holds it under (for per-peer assignments)."""
    return _version({s.name: _set_msg(s) for s in program.sets}, [_policy_msg(p) for p in program.policies])[2]
