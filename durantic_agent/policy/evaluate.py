"""Offline evaluation of policy sets against one test route, with GoBGP's semantics.

Rules are tried in order; a rule whose match holds applies its actions. `accept`/`reject` stop there;
`continue` applies the actions and falls through to the next rule (and the next set in a chain). When no
rule decides, the default action applies. Matching uses the route as modified so far, as GoBGP does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from .model import (
    UINT32_MAX,
    Actions,
    Match,
    PolicySet,
    as_path_to_python,
    community_value,
    large_community_value,
    parse_prefix_entry,
)

__all__ = ["Evaluation", "RuleHit", "TestRoute", "evaluate", "evaluate_chain", "parse_test_route"]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TestRoute:
    """A route as a policy sees it. Communities are canonical text ('65000:100', '1:2:3')."""

    prefix: Net
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    as_path: tuple[int, ...] = ()
    med: int | None = None
    local_pref: int | None = None
    neighbor: str | None = None  # the peer's name (source on import, destination on export)

    def to_json(self) -> dict[str, object]:
        return {
            "prefix": str(self.prefix),
            "as_path": list(self.as_path),
            "communities": list(self.communities),
            "large_communities": list(self.large_communities),
            "med": self.med,
            "local_pref": self.local_pref,
        }


def parse_test_route(
    prefix: str,
    communities: Sequence[str] = (),
    large_communities: Sequence[str] = (),
    as_path: str | Sequence[int] = (),
    med: int | None = None,
    local_pref: int | None = None,
    neighbor: str | None = None,
) -> TestRoute:
    """Build a TestRoute from CLI-style text; ValueError names the bad value (`--prefix: '...' ...`)."""
    try:
        net = ipaddress.ip_network(prefix, strict=True)
    except ValueError:
        raise ValueError(f"--prefix: {prefix!r} is not a valid prefix") from None
    comms = []
    for c in communities:
        try:
            hi, lo = community_value(c.strip().lower())
        except ValueError as e:
            raise ValueError(f"--community: {c!r} {e}") from None
        comms.append(f"{hi}:{lo}")
    large = []
    for c in large_communities:
        try:
            a, b, d = large_community_value(c.strip())
        except ValueError as e:
            raise ValueError(f"--large-community: {c!r} {e}") from None
        large.append(f"{a}:{b}:{d}")
    if isinstance(as_path, str):
        parts = as_path.replace(",", " ").split()
        if not all(p.isdigit() and 1 <= int(p) <= UINT32_MAX for p in parts):
            raise ValueError(f"--as-path: {as_path!r} is not a list of AS numbers like '4200000002 4200000003'")
        path = tuple(int(p) for p in parts)
    else:
        path = tuple(as_path)
    return TestRoute(net, tuple(comms), tuple(large), path, med, local_pref, neighbor)


@dataclass(frozen=True)
class RuleHit:
    policy_set: str
    rule: str
    result: Literal["accept", "reject", "continue"]


@dataclass(frozen=True)
class Evaluation:
    """`decided_by` is the rule that accepted/rejected, None when the default action decided."""

    result: Literal["accept", "reject"]
    decided_by: RuleHit | None
    applied: tuple[RuleHit, ...]  # every rule whose actions were applied, in order
    route: TestRoute  # attributes after the applied actions
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        def hit(h: RuleHit) -> dict[str, str]:
            return {"policy_set": h.policy_set, "rule": h.rule, "result": h.result}

        return {
            "result": self.result,
            "decided_by": hit(self.decided_by) if self.decided_by else None,
            "applied": [hit(h) for h in self.applied],
            "route": self.route.to_json() if self.result == "accept" else None,
            "notes": list(self.notes),
        }


def as_path_text(path: Sequence[int]) -> str:
    return " ".join(str(a) for a in path)


def matches(m: Match, route: TestRoute) -> bool:
    if m.prefixes and not any(parse_prefix_entry(p).contains(route.prefix) for p in m.prefixes):
        return False
    if m.communities:
        wanted = {"{}:{}".format(*community_value(c)) for c in m.communities}
        if not wanted & set(route.communities):
            return False
    if m.large_communities and not set(m.large_communities) & set(route.large_communities):
        return False
    if m.as_path is not None and not as_path_to_python(m.as_path).search(as_path_text(route.as_path)):
        return False
    # a route without a peer (this machine's own) never matches a neighbour set, as in GoBGP
    return not (m.neighbors and route.neighbor not in m.neighbors)


def _apply_list(current: tuple[str, ...], op: str, values: list[str]) -> tuple[str, ...]:
    if op == "replace":
        return tuple(values)
    if op == "remove":
        return tuple(c for c in current if c not in values)
    return current + tuple(v for v in values if v not in current)


def apply_actions(a: Actions, route: TestRoute, my_asn: int, notes: list[str]) -> TestRoute:
    r = route
    if a.communities is not None:
        vals = ["{}:{}".format(*community_value(c)) for c in a.communities.values]
        r = replace(r, communities=_apply_list(r.communities, a.communities.op, vals))
    if a.large_communities is not None:
        r = replace(
            r,
            large_communities=_apply_list(r.large_communities, a.large_communities.op, a.large_communities.values),
        )
    if a.med is not None:
        if isinstance(a.med, int):
            r = replace(r, med=a.med)
        else:
            new = (r.med or 0) + int(a.med)
            if 0 <= new <= UINT32_MAX:
                r = replace(r, med=new)
            else:  # GoBGP logs "med overflow" and leaves the MED as it was
                notes.append(f"med {a.med} on {r.med or 0} is out of range; MED unchanged")
    if a.local_pref is not None:
        r = replace(r, local_pref=a.local_pref)
    if a.as_prepend is not None:
        asn = my_asn if a.as_prepend.asn == "self" else int(a.as_prepend.asn)
        r = replace(r, as_path=(asn,) * a.as_prepend.repeat + r.as_path)
    return r


def evaluate_chain(
    policy_sets: Sequence[PolicySet],
    route: TestRoute,
    *,
    my_asn: int,
    default: Literal["accept", "reject"] = "accept",
) -> Evaluation:
    """Evaluate sets in order (as an import or export list), falling through on `continue`."""
    applied: list[RuleHit] = []
    notes: list[str] = []
    current = route
    for ps in policy_sets:
        for rule in ps.rules:
            if not matches(rule.match, current):
                continue
            hit = RuleHit(ps.name, rule.name, rule.actions.result)
            applied.append(hit)
            if rule.actions.result == "reject":
                return Evaluation("reject", hit, tuple(applied), current, tuple(notes))
            current = apply_actions(rule.actions, current, my_asn, notes)
            if rule.actions.result == "accept":
                return Evaluation("accept", hit, tuple(applied), current, tuple(notes))
    return Evaluation(default, None, tuple(applied), current, tuple(notes))


def evaluate(
    policy_set: PolicySet, route: TestRoute, *, my_asn: int, default: Literal["accept", "reject"] = "accept"
) -> Evaluation:
    """`durantic policy test NAME`: one set on its own."""
    return evaluate_chain([policy_set], route, my_asn=my_asn, default=default)
