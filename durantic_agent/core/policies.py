"""What the agent wants of gobgpd's policy objects, in GoBGP's own message form, and what applying it did.

Everything the agent creates in gobgpd is named with OWNED_PREFIX; nothing else is ever changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OWNED_PREFIX", "USER_PREFIX", "DesiredPolicies", "Msg", "PolicyChange", "assignment_msg"]

OWNED_PREFIX = "durantic-"
USER_PREFIX = "durantic-user:"

Msg = dict[str, Any]


@dataclass(frozen=True)
class DesiredPolicies:
    """What gobgpd should hold: defined sets and policies by name, and the two global assignments."""

    defined_sets: Mapping[str, Msg] = field(default_factory=dict)  # name -> DefinedSet
    policies: Mapping[str, Msg] = field(default_factory=dict)  # name -> Policy (with statements)
    import_assignment: Msg = field(default_factory=lambda: assignment_msg("IMPORT", [], "accept"))
    export_assignment: Msg = field(default_factory=lambda: assignment_msg("EXPORT", [], "accept"))

    def to_json(self) -> Msg:
        """Stable, readable form (golden files, `durantic policy show --gobgp`)."""
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
