"""Durable object store: one JSON file in the state dir, written atomically.

An acknowledged change is on disk (temp file, fsync, rename, fsync dir) before the caller is told;
a rejected change touches neither memory nor disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from ..errors import AgentError, ValidationFailed
from ..validation import format_errors
from .document import ObjectsDoc, ObjectsState, validate_state

__all__ = ["ObjectStore", "atomic_write"]


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class ObjectStore:
    def __init__(self, state_dir: Path, peer_names: Callable[[], set[str]] | None = None) -> None:
        self.path = state_dir / "objects.json"
        self._peer_names = peer_names
        self.state = ObjectsState()
        self.generation = 0

    def load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_bytes())
            self.state = ObjectsState.model_validate(raw)
        except (ValueError, ValidationError) as e:
            detail = format_errors(e)[0] if isinstance(e, ValidationError) else str(e)
            raise AgentError(f"state file {str(self.path)!r} is unreadable: {detail}") from None

    def commit(self, new: ObjectsState) -> bool:
        """Validate and persist `new`; returns False (and writes nothing) when nothing changed."""
        validate_state(new, self._peer_names() if self._peer_names else None)
        if new == self.state:
            return False
        # pydantic's own serializer: the same compact JSON as json.dumps(model_dump()), 8x faster at 10k
        # objects (7 ms vs 62 ms), in UTF-8 (load reads bytes)
        atomic_write(self.path, new.model_dump_json().encode())
        self.state = new
        self.generation += 1
        return True

    def apply(self, doc: ObjectsDoc, prune: bool = False) -> tuple[ObjectsState, bool]:
        """Upsert by name; with prune, objects not named in doc are removed. Returns (state, changed)."""
        cur = self.state
        anns = {} if prune else {a.name: a for a in cur.announcements}
        sets = {} if prune else {p.name: p for p in cur.policy_sets}
        for a in doc.announcements:
            anns[a.name] = a
        for p in doc.policy_sets:
            sets[p.name] = p
        # Keep the order operators see stable: existing objects first, new ones appended.
        order = [a.name for a in cur.announcements] + [a.name for a in doc.announcements]
        sorder = [p.name for p in cur.policy_sets] + [p.name for p in doc.policy_sets]
        upd: dict[str, object] = {
            "announcements": [anns[n] for n in dict.fromkeys(order) if n in anns],
            "policy_sets": [sets[n] for n in dict.fromkeys(sorder) if n in sets],
        }
        for key in ("import_policies", "export_policies", "default_import", "default_export"):
            val = getattr(doc, key)
            if val is not None:
                upd[key] = val
            elif prune:
                upd[key] = ObjectsState.model_fields[key].default
        new = cur.model_copy(update=upd)
        _dupes_in_doc(doc)
        changed = self.commit(new)
        return self.state, changed


def _dupes_in_doc(doc: ObjectsDoc) -> None:
    for what, names in (
        ("announcements", [a.name for a in doc.announcements]),
        ("policy_sets", [p.name for p in doc.policy_sets]),
    ):
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                raise ValidationFailed(f"{what}[{i}].name: {n!r} is a duplicate name")
            seen.add(n)
