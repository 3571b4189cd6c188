"""The objects document (`durantic apply -f`, `durantic get`) and whole-state validation.

Validation is over the state as it would be after the change, so a change that would leave a dangling
reference (an assignment naming a deleted set, two announcements of one prefix) is rejected whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ValidationFailed
from ..policy.model import PolicySet
from ..validation import format_errors
from .announcement import Announcement

__all__ = ["ObjectsDoc", "ObjectsState", "parse_doc", "validate_state"]

Default = Literal["accept", "reject"]


class ObjectsDoc(BaseModel):
    """What a user writes. Keys left out are left as they are by `apply` (unless --prune)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    announcements: list[Announcement] = []
    policy_sets: list[PolicySet] = []
    import_policies: list[str] | None = None
    export_policies: list[str] | None = None
    default_import: Default | None = None
    default_export: Default | None = None


class ObjectsState(BaseModel):
    """Everything the store holds; persisted as JSON and printed by `get`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    announcements: list[Announcement] = []
    policy_sets: list[PolicySet] = []
    import_policies: list[str] = []
    export_policies: list[str] = []
    default_import: Default = "accept"
    default_export: Default = "accept"
    drained: bool = False

    def announcement(self, name: str) -> Announcement | None:
        return next((a for a in self.announcements if a.name == name), None)

    def policy_set(self, name: str) -> PolicySet | None:
        return next((p for p in self.policy_sets if p.name == name), None)

    def to_doc(self) -> dict[str, Any]:
        """The `get -o yaml` form: applying it back is a no-op."""
        out = self.model_dump(mode="json", exclude_defaults=True, exclude={"drained"})
        out.setdefault("announcements", [])
        out.setdefault("policy_sets", [])
        out.setdefault("import_policies", [])
        out.setdefault("export_policies", [])
        return out


def parse_doc(doc: Any) -> ObjectsDoc:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValidationFailed(f"(top level): {type(doc).__name__} is not a mapping of objects")
    try:
        return ObjectsDoc.model_validate(doc)
    except ValidationError as e:
        raise ValidationFailed(format_errors(e)[0]) from None


def _dupes(names: Iterable[str], what: str) -> None:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise ValidationFailed(f"{what}[{i}].name: {n!r} is a duplicate name")
        seen[n] = i


def validate_state(state: ObjectsState, peer_names: set[str] | None = None) -> None:
    """Cross-object checks; raises ValidationFailed with one line."""
    _dupes((a.name for a in state.announcements), "announcements")
    _dupes((p.name for p in state.policy_sets), "policy_sets")
    owners: dict[str, str] = {}
    for i, a in enumerate(state.announcements):
        if a.prefix in owners:
            field = "vip" if a.vip is not None else "route"
            value = str(a.vip) if a.vip is not None else a.route
            raise ValidationFailed(
                f"announcements[{i}].{field}: {value!r} is already announced by {owners[a.prefix]!r}"
            )
        owners[a.prefix] = a.name
    sets = {p.name for p in state.policy_sets}
    for key in ("import_policies", "export_policies"):
        for i, n in enumerate(getattr(state, key)):
            if n not in sets:
                raise ValidationFailed(f"{key}[{i}]: {n!r} is not a known policy set")
    if peer_names is not None:
        for i, p in enumerate(state.policy_sets):
            for j, rule in enumerate(p.rules):
                for k, n in enumerate(rule.match.neighbors or []):
                    if n not in peer_names:
                        raise ValidationFailed(
                            f"policy_sets[{i}].rules[{j}].match.neighbors[{k}]: {n!r} is not a mesh member or neighbour"
                        )
