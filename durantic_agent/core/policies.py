"""The machine's route policy in the agent's own terms, and what applying it did.

`PolicyProgram` is what the policy layer decides: match sets, policies of ordered statements, and the
global import/export lists. The BGP adapter turns it into its speaker's objects. Everything the agent
creates there is named with OWNED_PREFIX; nothing else is ever changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "OWNED_PREFIX",
    "USER_PREFIX",
    "CommunityEdit",
    "Conditions",
    "MatchSet",
    "MedAction",
    "Policy",
    "PolicyChange",
    "PolicyProgram",
    "PrefixMatch",
    "SetKind",
    "SetRef",
    "Statement",
    "StatementActions",
]

OWNED_PREFIX = "durantic-"
USER_PREFIX = "durantic-user:"

SetKind = Literal["prefix", "neighbor", "as-path", "community", "large-community"]
Result = Literal["accept", "reject", "continue"]
Default = Literal["accept", "reject"]


@dataclass(frozen=True)
class PrefixMatch:
    """A prefix and the range of prefix lengths inside it that match."""

    prefix: str
    min_len: int
    max_len: int


@dataclass(frozen=True)
class MatchSet:
    """A named set a condition refers to: `prefixes` for kind "prefix", `entries` otherwise (neighbour
    host prefixes, AS-path regexes, communities, large communities). One address family per prefix set."""

    name: str
    kind: SetKind
    entries: tuple[str, ...] = ()
    prefixes: tuple[PrefixMatch, ...] = ()


@dataclass(frozen=True)
class SetRef:
    """A condition on a set: the route matches any member, or (`invert`) none of them."""

    name: str
    invert: bool = False


@dataclass(frozen=True)
class Conditions:
    """Every condition given must hold; none given matches every route."""

    prefix_set: SetRef | None = None
    neighbor_set: SetRef | None = None
    community_set: SetRef | None = None
    large_community_set: SetRef | None = None
    as_path_set: SetRef | None = None
    as_path_length_ge: int | None = None
    learned_from: Literal["external", "internal"] | None = None  # how the route was learned, if not local


@dataclass(frozen=True)
class CommunityEdit:
    op: Literal["add", "remove", "replace"]
    values: tuple[str, ...]


@dataclass(frozen=True)
class MedAction:
    op: Literal["set", "adjust"]
    value: int


@dataclass(frozen=True)
class StatementActions:
    """What a matching statement does; `continue` leaves the decision to the next statement."""

    result: Result = "continue"
    communities: CommunityEdit | None = None
    large_communities: CommunityEdit | None = None
    med: MedAction | None = None
    as_prepend: tuple[int, int] | None = None  # (ASN, repeat)
    local_pref: int | None = None


@dataclass(frozen=True)
class Statement:
    name: str
    conditions: Conditions = field(default_factory=Conditions)
    actions: StatementActions = field(default_factory=StatementActions)


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class PolicyProgram:
    """The machine's policy: sets and policies by name, and the policy names of each direction in order."""

    sets: tuple[MatchSet, ...] = ()
    policies: tuple[Policy, ...] = ()
    import_policies: tuple[str, ...] = ()
    export_policies: tuple[str, ...] = ()
    default_import: Default = "accept"
    default_export: Default = "accept"


@dataclass(frozen=True)
class PolicyChange:
    """What a reconcile did; see reconcile_policies for what the caller does on import/export_changed."""

    added_sets: tuple[str, ...] = ()
    deleted_sets: tuple[str, ...] = ()
    added_policies: tuple[str, ...] = ()
    deleted_policies: tuple[str, ...] = ()
    import_changed: bool = False
    export_changed: bool = False
    reset_directions: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(
            self.added_sets
            or self.deleted_sets
            or self.added_policies
            or self.deleted_policies
            or self.import_changed
            or self.export_changed
        )
