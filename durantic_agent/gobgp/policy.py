"""Reconcile the machine's route policy on gobgpd: read back, diff, apply the difference, soft-reset.

Only objects named `durantic-...` are owned; every other defined set, statement and policy in gobgpd is
left alone (foreign policies already in the global assignment keep their place after ours).

Order of operations (GoBGP refuses to delete what is in use, and merges an Add into an existing name):
add new sets -> repair drifted sets -> add new policies -> SetPolicyAssignment (replaces the list, so it
also sets the order; never DeletePolicyAssignment(all=True), which leaves the default at REJECT) ->
delete unused owned policies -> delete unused owned sets. Then ResetPeer(soft) for the direction whose
assignment changed. A policy change never tears a session down; with no change, nothing is called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from ..core.policies import OWNED_PREFIX, PolicyChange, PolicyProgram
from .client import GobgpClient
from .pb import api
from .policy_build import DesiredPolicies, Msg, gobgp_policies

__all__ = [
    "CurrentPolicies",
    "PolicyPlan",
    "apply_policy_plan",
    "canonical",
    "plan_policies",
    "read_policies",
    "reconcile_policies",
    "to_message",
]

_DIRECTIONS = ("IMPORT", "EXPORT")
_ANCHORED = re.compile(r"^\^(.*)\$$")
_SET_TYPES = ("PREFIX", "NEIGHBOR", "AS_PATH", "COMMUNITY", "LARGE_COMMUNITY")


def _enum_prefix(enum: Any) -> str:
    """GoBGP 4 prefixes each enum's value names ("DEFINED_TYPE_PREFIX", "TYPE_ANY", "ROUTE_ACTION_ACCEPT");
    the prefix is what its zero value has before "UNSPECIFIED"."""
    zero = enum.values_by_number[0].name
    return zero.removesuffix("UNSPECIFIED") if zero.endswith("UNSPECIFIED") else ""


def _enum_names(value: Any, enum: Any, to_api: bool) -> Any:
    if not isinstance(value, str):
        return value
    prefix = _enum_prefix(enum)
    if not to_api:
        return value.removeprefix(prefix)
    name = prefix + value
    # the unset value ("NONE": no route action, e.g. a `continue` rule) is the zero value
    return name if name in enum.values_by_name else enum.values_by_number[0].name


def _convert(d: Mapping[str, Any], desc: Any, to_api: bool) -> Msg:
    """A policy message as a dict between the agent's enum names (policy_build: "PREFIX", "ANY",
    "ACCEPT", "IMPORT"), which the canonical form uses, and GoBGP's ("DEFINED_TYPE_PREFIX", ...)."""
    out: Msg = {}
    for key, value in d.items():
        fd = desc.fields_by_name.get(key)
        if fd is None:
            out[key] = value
        elif fd.message_type is not None:
            sub = fd.message_type
            if isinstance(value, list):
                out[key] = [_convert(v, sub, to_api) if isinstance(v, Mapping) else v for v in value]
            else:
                out[key] = _convert(value, sub, to_api) if isinstance(value, Mapping) else value
        elif fd.enum_type is not None:
            if isinstance(value, list):
                out[key] = [_enum_names(v, fd.enum_type, to_api) for v in value]
            else:
                out[key] = _enum_names(value, fd.enum_type, to_api)
        else:
            out[key] = value
    return out


def _to_dict(msg: Any) -> Msg:
    """A message read from gobgpd, as a dict with the agent's enum names."""
    return _convert(json_format.MessageToDict(msg, preserving_proto_field_name=True), msg.DESCRIPTOR, False)


def to_message(d: Mapping[str, Any], msg: Any, ignore_unknown_fields: bool = False) -> Any:
    """A dict with the agent's enum names into the GoBGP message `msg`."""
    return json_format.ParseDict(_convert(d, msg.DESCRIPTOR, True), msg, ignore_unknown_fields=ignore_unknown_fields)


def _unanchor(values: list[str]) -> list[str]:
    # GoBGP stores exact community values as anchored regexes ("65000:1" reads back as "^65000:1$")
    return [m.group(1) if (m := _ANCHORED.match(v)) else v for v in values]


def canonical_set(d: Mapping[str, Any]) -> Msg:
    out = _to_dict(to_message(d, api.DefinedSet()))
    if out.get("defined_type") in ("COMMUNITY", "LARGE_COMMUNITY"):
        out["list"] = _unanchor(out.get("list", []))
    if "list" in out:
        out["list"] = sorted(out["list"])
    if "prefixes" in out:
        out["prefixes"] = sorted(
            out["prefixes"],
            key=lambda p: (p.get("ip_prefix", ""), p.get("mask_length_min", 0), p.get("mask_length_max", 0)),
        )
    return out


def canonical_policy(d: Mapping[str, Any]) -> Msg:
    out = _to_dict(to_message(d, api.Policy()))
    for st in out.get("statements", []):
        cond = st.get("conditions", {})
        if not cond:
            st.pop("conditions", None)
        for key in ("community", "large_community"):
            act = st.get("actions", {}).get(key)
            if act and act.get("type") == "REMOVE":
                act["communities"] = _unanchor(act.get("communities", []))
    return out


def canonical_assignment(d: Mapping[str, Any]) -> Msg:
    out = _to_dict(to_message(d, api.PolicyAssignment(), ignore_unknown_fields=True))
    out["policies"] = [{"name": p["name"]} for p in out.get("policies", [])]
    out.setdefault("default_action", "NONE")
    return out


def canonical(desired: DesiredPolicies) -> DesiredPolicies:
    """The form a read-back has: compare desired and current only in this form."""
    return DesiredPolicies(
        defined_sets={k: canonical_set(v) for k, v in desired.defined_sets.items()},
        policies={k: canonical_policy(v) for k, v in desired.policies.items()},
        import_assignment=canonical_assignment(desired.import_assignment),
        export_assignment=canonical_assignment(desired.export_assignment),
    )


@dataclass(frozen=True)
class CurrentPolicies:
    """Owned sets/policies read back from gobgpd (canonical form) and the full global assignments."""

    defined_sets: Mapping[str, Msg]
    policies: Mapping[str, Msg]
    assignments: Mapping[str, Msg]  # "IMPORT"/"EXPORT" -> PolicyAssignment (names only)
    orphan_statements: tuple[str, ...] = ()  # owned statements no policy uses (they block re-adding)


async def read_policies(client: GobgpClient) -> CurrentPolicies:
    sets: dict[str, Msg] = {}
    for t in _SET_TYPES:
        req = api.ListDefinedSetRequest(defined_type=api.DefinedType.Value("DEFINED_TYPE_" + t))
        async for r in client.stream("ListDefinedSet", req):
            if r.defined_set.name.startswith(OWNED_PREFIX):
                sets[r.defined_set.name] = canonical_set(_to_dict(r.defined_set))
    policies: dict[str, Msg] = {}
    in_policy: set[str] = set()
    async for r in client.stream("ListPolicy", api.ListPolicyRequest()):
        in_policy.update(s.name for s in r.policy.statements)
        if r.policy.name.startswith(OWNED_PREFIX):
            policies[r.policy.name] = canonical_policy(_to_dict(r.policy))
    orphans = []
    async for r in client.stream("ListStatement", api.ListStatementRequest()):
        if r.statement.name.startswith(OWNED_PREFIX) and r.statement.name not in in_policy:
            orphans.append(r.statement.name)
    assignments: dict[str, Msg] = {}
    for direction in _DIRECTIONS:
        req = api.ListPolicyAssignmentRequest(
            name="global", direction=api.PolicyDirection.Value("POLICY_DIRECTION_" + direction)
        )
        async for r in client.stream("ListPolicyAssignment", req):
            assignments[direction] = canonical_assignment(_to_dict(r.assignment))
    return CurrentPolicies(sets, policies, assignments, tuple(sorted(orphans)))


@dataclass(frozen=True)
class PolicyPlan:
    add_sets: tuple[Msg, ...] = ()
    # drifted sets (same name, other content): entries to append and to remove
    set_append: tuple[Msg, ...] = ()
    set_remove: tuple[Msg, ...] = ()
    delete_statements: tuple[str, ...] = ()
    replace_policies: tuple[str, ...] = ()  # drifted: delete then re-add
    add_policies: tuple[Msg, ...] = ()
    assignments: tuple[Msg, ...] = ()  # SetPolicyAssignment, in order
    delete_policies: tuple[str, ...] = ()
    delete_sets: tuple[Msg, ...] = ()
    import_changed: bool = False
    export_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.add_sets
            or self.set_append
            or self.set_remove
            or self.delete_statements
            or self.replace_policies
            or self.add_policies
            or self.assignments
            or self.delete_policies
            or self.delete_sets
        )


def _set_delta(want: Msg, have: Msg) -> tuple[Msg | None, Msg | None]:
    key = "prefixes" if want.get("defined_type", "PREFIX") == "PREFIX" else "list"
    w, h = want.get(key, []), have.get(key, [])
    add = [x for x in w if x not in h]
    rm = [x for x in h if x not in w]
    base = {k: v for k, v in want.items() if k not in ("list", "prefixes")}
    return ({**base, key: add} if add else None), ({**base, key: rm} if rm else None)


def _merged_assignment(want: Msg, have: Msg | None) -> Msg:
    """Ours first (in our order); foreign policies already assigned keep their relative order after."""
    foreign = [p for p in (have or {}).get("policies", []) if not p["name"].startswith(OWNED_PREFIX)]
    return {**want, "policies": [*want.get("policies", []), *foreign]}


def plan_policies(desired: DesiredPolicies, current: CurrentPolicies) -> PolicyPlan:
    """Pure diff. `desired` is canonicalised here; running the plan then planning again gives empty."""
    want = canonical(desired)
    add_sets, append, remove = [], [], []
    for name, s in sorted(want.defined_sets.items()):
        have = current.defined_sets.get(name)
        if have is None:
            add_sets.append(s)
        elif have != s:
            a, r = _set_delta(s, have)
            append += [a] if a else []
            remove += [r] if r else []
    replace = sorted(n for n, p in want.policies.items() if n in current.policies and current.policies[n] != p)
    add_pols = [p for n, p in sorted(want.policies.items()) if n not in current.policies or n in replace]
    changed: dict[str, bool] = {}
    assigns = []
    drifted = {s["name"] for s in (*append, *remove)}
    for direction, w in (("IMPORT", want.import_assignment), ("EXPORT", want.export_assignment)):
        have = current.assignments.get(direction)
        merged = _merged_assignment(w, have)
        names = {p["name"] for p in merged["policies"]}
        touched = bool(names & set(replace)) or any(
            ms.get("name") in drifted
            for n in names
            for st in want.policies.get(n, {}).get("statements", [])
            for ms in st.get("conditions", {}).values()
            if isinstance(ms, dict)
        )
        if merged != have:
            assigns.append(merged)
        changed[direction] = merged != have or touched
    del_pols = sorted(n for n in current.policies if n not in want.policies)
    del_sets = [
        {"defined_type": s.get("defined_type", "PREFIX"), "name": n}
        for n, s in sorted(current.defined_sets.items())
        if n not in want.defined_sets
    ]
    return PolicyPlan(
        add_sets=tuple(add_sets),
        set_append=tuple(append),
        set_remove=tuple(remove),
        delete_statements=current.orphan_statements,
        replace_policies=tuple(replace),
        add_policies=tuple(add_pols),
        assignments=tuple(assigns),
        delete_policies=tuple(del_pols),
        delete_sets=tuple(del_sets),
        import_changed=changed["IMPORT"],
        export_changed=changed["EXPORT"],
    )


async def apply_policy_plan(client: GobgpClient, plan: PolicyPlan, current: CurrentPolicies) -> None:
    """Run a plan in the only order GoBGP accepts. Does not soft-reset (see reconcile_policies)."""
    for s in plan.add_sets:
        await client.call("AddDefinedSet", to_message({"defined_set": s}, api.AddDefinedSetRequest()))
    for s in plan.set_append:  # AddDefinedSet on an existing name appends
        await client.call("AddDefinedSet", to_message({"defined_set": s}, api.AddDefinedSetRequest()))
    for s in plan.set_remove:  # all=False removes just the listed entries (works while in use)
        await client.call(
            "DeleteDefinedSet",
            to_message({"defined_set": s, "all": False}, api.DeleteDefinedSetRequest()),
        )
    for name in plan.delete_statements:
        await client.call("DeleteStatement", api.DeleteStatementRequest(statement=api.Statement(name=name), all=True))
    if plan.replace_policies:
        # a drifted policy cannot be deleted while assigned: take it out for the moment it is re-added
        gone = set(plan.replace_policies)
        for direction, have in current.assignments.items():
            kept = [p for p in have.get("policies", []) if p["name"] not in gone]
            if len(kept) != len(have.get("policies", [])):
                await _set_assignment(client, {**have, "policies": kept, "direction": direction})
        for name in plan.replace_policies:
            await client.call("DeletePolicy", api.DeletePolicyRequest(policy=api.Policy(name=name), all=True))
    for p in plan.add_policies:
        await client.call("AddPolicy", to_message({"policy": p}, api.AddPolicyRequest()))
    for a in plan.assignments:
        await _set_assignment(client, a)
    for name in plan.delete_policies:
        await client.call("DeletePolicy", api.DeletePolicyRequest(policy=api.Policy(name=name), all=True))
    for s in plan.delete_sets:
        await client.call(
            "DeleteDefinedSet",
            to_message({"defined_set": s, "all": True}, api.DeleteDefinedSetRequest()),
        )


async def _set_assignment(client: GobgpClient, assignment: Msg) -> None:
    await client.call(
        "SetPolicyAssignment",
        to_message({"assignment": assignment}, api.SetPolicyAssignmentRequest()),
    )


async def soft_reset(client: GobgpClient, direction: str, address: str = "") -> None:
    """Re-run policy for one direction on every peer (address "" = all) without tearing sessions down.

    IN re-evaluates the kept Adj-RIB-In (no ROUTE-REFRESH needed); OUT re-sends with the export policy.
    """
    d = api.ResetPeerRequest.DIRECTION_IN if direction == "IMPORT" else api.ResetPeerRequest.DIRECTION_OUT
    await client.call("ResetPeer", api.ResetPeerRequest(address=address, soft=True, direction=d))


async def reconcile_policies(client: GobgpClient, program: PolicyProgram, *, reset: bool = True) -> PolicyChange:
    """Make gobgpd hold `program` (from policy.translate), touching only what differs.

    With `reset`, the changed direction(s) are soft-reset on all peers (ResetPeer address "", soft).
    The caller's part afterwards: on `import_changed`, re-add the locally originated paths (gobgpd applies
    the import policy to a local path only when it is added; a soft reset IN covers received routes only).
    On `export_changed` nothing: the soft reset OUT re-sends what the new export policy changes and
    withdraws, from each peer, what it now rejects (local and received routes alike).
    """
    desired = gobgp_policies(program)
    current = await read_policies(client)
    plan = plan_policies(desired, current)
    if plan.empty and not (plan.import_changed or plan.export_changed):
        return PolicyChange()
    await apply_policy_plan(client, plan, current)
    resets: list[str] = []
    if reset:
        for direction, flag in (("IMPORT", plan.import_changed), ("EXPORT", plan.export_changed)):
            if flag:
                await soft_reset(client, direction)
                resets.append(direction)
    return PolicyChange(
        added_sets=tuple(s["name"] for s in plan.add_sets),
        deleted_sets=tuple(s["name"] for s in plan.delete_sets),
        added_policies=tuple(p["name"] for p in plan.add_policies),
        deleted_policies=plan.delete_policies,
        import_changed=plan.import_changed,
        export_changed=plan.export_changed,
        reset_directions=tuple(resets),
    )
