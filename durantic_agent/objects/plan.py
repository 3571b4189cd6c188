"""What `apply -f` would do, object by object (kubectl's created / configured / unchanged / pruned).

Pure: the current state and the document in, the new state and one change per object out, so a dry run,
a diff and the real apply report the same thing.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from .document import ObjectsDoc, ObjectsState

__all__ = ["ASSIGNMENT_KEYS", "Action", "ObjectChange", "plan_apply"]

Action = Literal["created", "configured", "unchanged", "pruned"]
ASSIGNMENT_KEYS = ("import_policies", "export_policies", "default_import", "default_export")


class ObjectChange(NamedTuple):
    """A tuple: one is made per object of every apply, and a frozen dataclass costs 5x more to build."""

    kind: Literal["announcement", "policy_set", "assignment"]
    name: str  # the object's name; for an assignment, its key (import_policies, ...)
    action: Action
    before: Any = None  # the object as `get` prints it (only when asked for: a diff)
    after: Any = None

    @property
    def ref(self) -> str:
        """`announcement/web`, `policy_set/prefer-a`, `import_policies`: how output lines name it."""
        return self.name if self.kind == "assignment" else f"{self.kind}/{self.name}"

    def to_json(self, with_objects: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action}
        if with_objects:
            out["before"], out["after"] = self.before, self.after
        return out


def _dump(obj: BaseModel | None) -> Any:
    return None if obj is None else obj.model_dump(mode="json", exclude_defaults=True)


@functools.cache
def _fields(kind: type[BaseModel]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    names = list(kind.model_fields)
    get = operator.itemgetter(*names)
    return get if len(names) > 1 else lambda d: (get(d),)


def _same(old: BaseModel, new: BaseModel) -> bool:
    """Field-wise equality, as pydantic's __eq__ decides it for these objects (no extra keys, no private
    attributes; cached properties in __dict__ ignored) at a quarter of its cost per object."""
    if old is new:
        return True
    if type(old) is not type(new):
        return False
    get = _fields(type(new))
    return bool(get(old.__dict__) == get(new.__dict__))


def _named(
    kind: Literal["announcement", "policy_set"],
    current: list[Any],
    given: list[Any],
    prune: bool,
    with_objects: bool,
) -> tuple[list[Any], list[ObjectChange]]:
    """Upsert `given` into `current` by name; existing objects keep their place, new ones are appended.
    An unchanged object stays the very object the state held, so comparing states afterwards is cheap."""
    cur = {o.name: o for o in current}
    new = {} if prune else dict(cur)
    changes = []
    for o in given:
        old = cur.get(o.name)
        action: Action = "created" if old is None else ("unchanged" if _same(old, o) else "configured")
        new[o.name] = old if action == "unchanged" else o
        objs = (_dump(old), _dump(o)) if with_objects and action != "unchanged" else ()
        changes.append(ObjectChange(kind, o.name, action, *objs))
    if prune:
        for o in current:
            if o.name not in new:
                changes.append(ObjectChange(kind, o.name, "pruned", *((_dump(o), None) if with_objects else ())))
    order = dict.fromkeys([o.name for o in current] + [o.name for o in given])
    return [new[n] for n in order if n in new], changes


def plan_apply(
    cur: ObjectsState, doc: ObjectsDoc, prune: bool = False, with_objects: bool = False
) -> tuple[ObjectsState, list[ObjectChange]]:
    """The state after applying `doc` (not validated across objects yet) and what happens to each object.
    With prune, objects the document does not name are removed and assignment keys it leaves out reset."""
    anns, ann_changes = _named("announcement", cur.announcements, doc.announcements, prune, with_objects)
    sets, set_changes = _named("policy_set", cur.policy_sets, doc.policy_sets, prune, with_objects)
    upd: dict[str, object] = {"announcements": anns, "policy_sets": sets}
    changes = [*ann_changes, *set_changes]
    for key in ASSIGNMENT_KEYS:
        val = getattr(doc, key)
        if val is None and not prune:
            continue
        new = ObjectsState.model_fields[key].default if val is None else val
        old = getattr(cur, key)
        upd[key] = new
        if val is None and new == old:
            continue  # not in the file and already the default: nothing to report
        action: Action = "unchanged" if new == old else "configured"
        objs = (old, new) if with_objects and action != "unchanged" else ()
        changes.append(ObjectChange("assignment", key, action, *objs))
    return cur.model_copy(update=upd), changes
