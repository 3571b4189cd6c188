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
from ..validation import format_errors, printable_name
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


def _item_names(doc: dict[str, Any], key: str) -> list[str]:
    items = doc.get(key)
    if not isinstance(items, list):
        return []
    return [str(i["name"]) for i in items if isinstance(i, dict) and printable_name(i.get("name"))]


def parse_doc(doc: Any) -> ObjectsDoc:
    """The document, or ValidationFailed with every error in it (list items named as the user typed them)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValidationFailed(f"(top level): {type(doc).__name__} is not a mapping of objects")
    errors = [
        *_dupes(_item_names(doc, "announcements"), "announcements"),
        *_dupes(_item_names(doc, "policy_sets"), "policy_sets"),
    ]
    try:
        parsed = ObjectsDoc.model_validate(doc)
    except ValidationError as e:
        raise ValidationFailed(format_errors(e, data=doc) + errors) from None
    if errors:
        raise ValidationFailed(errors)
    return parsed


def _dupes(names: Iterable[str], what: str) -> list[str]:
    seen: set[str] = set()
    out = []
    for n in names:
        if n in seen:
            out.append(f"{what}[{n}].name: {n!r} is a duplicate name")
        seen.add(n)
    return out


def validate_state(state: ObjectsState, peer_names: set[str] | None = None) -> None:
    """Cross-object checks; raises ValidationFailed naming every problem, one line each."""
    errors = [
        *_dupes((a.name for a in state.announcements), "announcements"),
        *_dupes((p.name for p in state.policy_sets), "policy_sets"),
    ]
    for p in state.policy_sets:
        errors += _dupes((r.name for r in p.rules), f"policy_sets[{p.name}].rules")
    owners: dict[str, str] = {}
    for a in state.announcements:
        if a.prefix in owners:
            field = "vip" if a.vip is not None else "route"
            value = str(a.vip) if a.vip is not None else a.route
            errors.append(f"announcements[{a.name}].{field}: {value!r} is already announced by {owners[a.prefix]!r}")
        else:
            owners[a.prefix] = a.name
    sets = {p.name for p in state.policy_sets}
    for key in ("import_policies", "export_policies"):
        for i, n in enumerate(getattr(state, key)):
            if n not in sets:
                errors.append(f"{key}[{i}]: {n!r} is not a known policy set")
    if peer_names is not None:
        for p in state.policy_sets:
            for rule in p.rules:
                for k, n in enumerate(rule.match.neighbors or []):
                    if n not in peer_names:
                        errors.append(
                            f"policy_sets[{p.name}].rules[{rule.name}].match.neighbors[{k}]: {n!r} "
                            "is not a mesh member or neighbour"
                        )
    if errors:
        raise ValidationFailed(errors)
