"""Route policy sets: the user-facing schema (pydantic v2) and the checks that span objects.

A policy set is a named, ordered list of rules; each rule has `match` (every given condition must hold;
inside one list any entry is enough) and `actions`. The machine applies sets through its global
`import_policies` / `export_policies` lists (GoBGP applies policy to the global RIB only).

AS-path regular expressions use GoBGP's dialect: the path is matched as the text "65001 65002 65003"
(first = the neighbour that sent it, last = the originator) and `_` stands for a boundary (start, end,
space, or the brackets of an AS set). Examples:

    ^4200000002_      received from AS 4200000002 (it is the first AS)
    _4200000002_      AS 4200000002 appears anywhere in the path
    _4200000002$      originated by AS 4200000002
    ^4200000002$      originated by that neighbour itself (path of length one)
    ^$                an empty path (a route of this machine)
    ^420000000[0-9]_  received from any of 4200000000..4200000009

The regular expression is RE2 (Go): no look-around, no back-references.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ..core.community import WELL_KNOWN
from ..validation import Name

__all__ = [
    "AS_PATH_BOUNDARY",
    "WELL_KNOWN_COMMUNITIES",
    "Actions",
    "AsPrepend",
    "CommunityOps",
    "Match",
    "PolicyAssignment",
    "PolicySet",
    "PrefixEntry",
    "Rule",
    "as_path_to_python",
    "check_neighbors",
    "check_policy_sets",
    "community_value",
    "large_community_value",
    "parse_prefix_entry",
    "validate_assignment",
]

UINT32_MAX = 4294967295
AS_PATH_BOUNDARY = "(^|[,{}() ]|$)"  # GoBGP's ASPATH_REGEXP_MAGIC, substituted for every "_"

# Well-known communities (RFC 1997, RFC 7999, RFC 8326), written as numbers so that GoBGP and the
# offline evaluator agree on the value whatever GoBGP's own name table says.
WELL_KNOWN_COMMUNITIES: dict[str, tuple[int, int]] = {
    name: (value >> 16, value & 0xFFFF) for name, value in WELL_KNOWN.items() if name != "llgr-stale"
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- prefix entries ------------------------------------------------------------------------------

_PREFIX_RE = re.compile(r"^\s*(\S+)((?:\s+(?:ge|le)\s+\S+)*)\s*\Z")
_BOUND_RE = re.compile(r"(ge|le)\s+(\S+)")


@dataclass(frozen=True)
class PrefixEntry:
    """`10.0.0.0/8 ge 24 le 28`: prefixes inside 10.0.0.0/8 whose length is min_len..max_len."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    min_len: int
    max_len: int

    @property
    def version(self) -> int:
        return self.network.version

    def contains(self, prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        return (
            prefix.version == self.network.version
            and self.min_len <= prefix.prefixlen <= self.max_len
            and prefix.subnet_of(self.network)  # type: ignore[arg-type]
        )


def parse_prefix_entry(text: str) -> PrefixEntry:
    """Parse `P`, `P le N`, `P ge N`, `P ge N le M`; ValueError says what is wrong."""
    m = _PREFIX_RE.match(text)
    if not m:
        raise ValueError("is not a prefix entry like '10.0.0.0/8', '10.0.0.0/8 le 32' or '... ge 24 le 28'")
    try:
        net = ipaddress.ip_network(m.group(1), strict=True)
    except ValueError as e:
        if "host bits set" in str(e):
            raise ValueError(f"{m.group(1)} has host bits set") from None
        raise ValueError(f"{m.group(1)!r} is not a valid CIDR prefix") from None
    if "/" not in m.group(1):
        raise ValueError(f"{m.group(1)!r} is not a CIDR prefix (address/length)")
    bounds: dict[str, int] = {}
    for kw, raw in _BOUND_RE.findall(m.group(2)):
        if kw in bounds:
            raise ValueError(f"{kw} is given twice")
        if not raw.isdigit():
            raise ValueError(f"{kw} {raw} is not a prefix length")
        bounds[kw] = int(raw)
    bits, plen = net.max_prefixlen, net.prefixlen
    for kw, n in bounds.items():
        if n < plen:
            raise ValueError(f"{kw} {n} is shorter than the prefix length {plen}")
        if n > bits:
            raise ValueError(f"{kw} {n} is longer than {bits}, the longest IPv{net.version} prefix")
    ge, le = bounds.get("ge"), bounds.get("le")
    if ge is not None and le is not None and ge > le:
        raise ValueError(f"ge {ge} is greater than le {le}")
    if ge is None and le is None:
        return PrefixEntry(net, plen, plen)
    return PrefixEntry(net, ge if ge is not None else plen, le if le is not None else bits)


def _prefix_text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("is not a prefix entry like '10.0.0.0/8 le 32'")
    e = parse_prefix_entry(v)
    out = str(e.network)
    for kw, raw in _BOUND_RE.findall(v):  # keep the user's ge/le as written (canonical spacing)
        out += f" {kw} {int(raw)}"
    return out


# --- communities ---------------------------------------------------------------------------------


def community_value(text: str) -> tuple[int, int]:
    """'65000:100' or a well-known name -> (high, low)."""
    if text in WELL_KNOWN_COMMUNITIES:
        return WELL_KNOWN_COMMUNITIES[text]
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        names = ", ".join(WELL_KNOWN_COMMUNITIES)
        raise ValueError(f"is not a community (ASN16:VALUE like 65000:100, or one of {names})")
    hi, lo = int(parts[0]), int(parts[1])
    if hi > 65535 or lo > 65535:
        raise ValueError("is out of range (both halves of a standard community are 0..65535)")
    return hi, lo


def large_community_value(text: str) -> tuple[int, int, int]:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("is not a large community (GLOBAL:DATA1:DATA2 like 4200000001:1:1)")
    a, b, c = (int(p) for p in parts)
    if max(a, b, c) > UINT32_MAX:
        raise ValueError("is out of range (each part of a large community is 0..4294967295)")
    return a, b, c


def _community(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("is not a community like '65000:100'")
    text: str = v.strip().lower()
    if text in WELL_KNOWN_COMMUNITIES:
        return text
    hi, lo = community_value(text)
    return f"{hi}:{lo}"


def _large_community(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("is not a large community like '4200000001:1:1'")
    a, b, c = large_community_value(v.strip())
    return f"{a}:{b}:{c}"


# --- AS-path regex -------------------------------------------------------------------------------

_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]")


def as_path_to_python(expr: str) -> re.Pattern[str]:
    """Compile a GoBGP AS-path expression the way GoBGP does (every `_` becomes a boundary group)."""
    return re.compile(expr.replace("_", AS_PATH_BOUNDARY))


def _as_path(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("is not a regular expression")
    if _RE2_UNSUPPORTED.search(v):
        raise ValueError("uses look-around or a back-reference, which GoBGP's RE2 does not support")
    try:
        as_path_to_python(v)
    except re.error as e:
        raise ValueError(f"is not a valid regular expression ({e})") from None
    return v


def _uint32(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("must be an integer 0..4294967295")
    if not 0 <= v <= UINT32_MAX:
        raise ValueError("is out of range (0..4294967295)")
    return v


_MED_ADJ = re.compile(r"^[+-]\d+\Z")


def _med(v: Any) -> int | str:
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v.strip())
    if isinstance(v, int) and not isinstance(v, bool):
        return _uint32(v)
    if isinstance(v, str) and _MED_ADJ.match(v.strip()):
        s = v.strip()
        if int(s[1:]) > UINT32_MAX:
            raise ValueError("is out of range (adjustment of at most 4294967295)")
        return f"{s[0]}{int(s[1:])}"
    raise ValueError("must be a MED 0..4294967295, or '+N' / '-N' to adjust it")


PrefixText = Annotated[str, BeforeValidator(_prefix_text)]
Community = Annotated[str, BeforeValidator(_community)]
LargeCommunity = Annotated[str, BeforeValidator(_large_community)]
AsPathRegex = Annotated[str, BeforeValidator(_as_path)]
UInt32 = Annotated[int, BeforeValidator(_uint32)]
Med = Annotated[int | str, BeforeValidator(_med)]


def _asn_or_self(v: Any) -> int | str:
    if v == "self":
        return "self"
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= UINT32_MAX:
        raise ValueError("must be 'self' or an AS number (1..4294967295)")
    return v


# --- the schema ----------------------------------------------------------------------------------


class Match(_Strict):
    prefixes: list[PrefixText] = Field(default_factory=list)
    communities: list[Community] = Field(default_factory=list)
    large_communities: list[LargeCommunity] = Field(default_factory=list)
    as_path: AsPathRegex | None = Field(
        default=None, description="GoBGP AS-path regex; `_` is a boundary, e.g. '^4200000002_'"
    )
    neighbors: list[Name] = Field(default_factory=list, description="mesh member or neighbour names")

    def prefix_entries(self) -> list[PrefixEntry]:
        return [parse_prefix_entry(p) for p in self.prefixes]


class CommunityOps(_Strict):
    """Exactly one of add / remove / replace (GoBGP has one community action per statement)."""

    add: list[str] | None = None
    remove: list[str] | None = None
    replace: list[str] | None = None

    @model_validator(mode="after")
    def _one_op(self) -> CommunityOps:
        given = [k for k in ("add", "remove", "replace") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of add, remove, replace")
        return self

    @property
    def op(self) -> Literal["add", "remove", "replace"]:
        if self.add is not None:
            return "add"
        if self.remove is not None:
            return "remove"
        return "replace"

    @property
    def values(self) -> list[str]:
        return list(getattr(self, self.op) or [])


class StdCommunityOps(CommunityOps):
    add: list[Community] | None = None
    remove: list[Community] | None = None
    replace: list[Community] | None = None


class LargeCommunityOps(CommunityOps):
    add: list[LargeCommunity] | None = None
    remove: list[LargeCommunity] | None = None
    replace: list[LargeCommunity] | None = None


class AsPrepend(_Strict):
    asn: Annotated[int | str, BeforeValidator(_asn_or_self)] = "self"
    repeat: int = Field(default=1, ge=1, le=16)


class Actions(_Strict):
    local_pref: UInt32 | None = None
    med: Med | None = Field(default=None, description="set N, or '+N' / '-N' to adjust")
    communities: StdCommunityOps | None = None
    large_communities: LargeCommunityOps | None = None
    as_prepend: AsPrepend | None = None
    result: Literal["accept", "reject", "continue"] = "accept"


class Rule(_Strict):
    name: Name
    match: Match = Field(default_factory=Match)
    actions: Actions = Field(default_factory=Actions)


class PolicySet(_Strict):
    name: Name
    rules: list[Rule] = Field(min_length=1)


Default = Literal["accept", "reject"]


class PolicyAssignment(_Strict):
    """The machine's global assignment: ordered set names per direction plus the default action."""

    import_policies: list[Name] = Field(default_factory=list)
    export_policies: list[Name] = Field(default_factory=list)
    default_import: Default = "accept"
    default_export: Default = "accept"


# --- checks that span objects (pydantic cannot put a precise path on them) ------------------------


def check_policy_sets(policy_sets: Sequence[PolicySet], prefix: str = "policy_sets") -> list[str]:
    """Duplicate set names and duplicate rule names within a set, one line each."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, ps in enumerate(policy_sets):
        if ps.name in seen:
            errors.append(f"{prefix}[{i}].name: {ps.name!r} is a duplicate policy set name")
        seen.add(ps.name)
        rules: set[str] = set()
        for j, rule in enumerate(ps.rules):
            if rule.name in rules:
                errors.append(f"{prefix}[{i}].rules[{j}].name: {rule.name!r} is a duplicate rule name")
            rules.add(rule.name)
    return errors


def validate_assignment(assignment: PolicyAssignment, set_names: Collection[str]) -> list[str]:
    """Every name must be a known policy set, at most once per direction."""
    errors: list[str] = []
    for key in ("import_policies", "export_policies"):
        listed: set[str] = set()
        for i, name in enumerate(getattr(assignment, key)):
            if name not in set_names:
                errors.append(f"{key}[{i}]: {name!r} is not a known policy set")
            elif name in listed:
                errors.append(f"{key}[{i}]: {name!r} is listed twice")
            listed.add(name)
    return errors


def check_neighbors(policy_sets: Sequence[PolicySet], known: Collection[str], prefix: str = "policy_sets") -> list[str]:
    """`match.neighbors` must name mesh members or configured neighbours."""
    errors: list[str] = []
    for i, ps in enumerate(policy_sets):
        for j, rule in enumerate(ps.rules):
            for k, n in enumerate(rule.match.neighbors):
                if n not in known:
                    errors.append(
                        f"{prefix}[{i}].rules[{j}].match.neighbors[{k}]: {n!r} is not a mesh member or neighbour"
                    )
    return errors


def referenced_sets(assignment: PolicyAssignment) -> Iterable[str]:
    seen: dict[str, None] = {}
    for n in (*assignment.import_policies, *assignment.export_policies):
        seen.setdefault(n, None)
    return list(seen)
