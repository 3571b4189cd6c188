"""Durable object store: one JSON file in the state dir, written atomically.

An acknowledged change is on disk (temp file, every write checked, fsync, rename, fsync dir) before
the caller is told; a rejected change, or one the disk could not take, touches neither memory nor disk.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from ..errors import AgentError, StorageError, ValidationFailed
from ..files import read_regular, write_durable
from ..validation import format_errors
from .document import ObjectsDoc, ObjectsState, validate_state

__all__ = ["ObjectStore"]


class ObjectStore:
    def __init__(self, state_dir: Path, peer_names: Callable[[], set[str]] | None = None) -> None:
        self.path = state_dir / "objects.json"
        self._peer_names = peer_names
        self.state = ObjectsState()
        self.generation = 0
        self._on_disk: bytes | None = None  # what the state file holds (None: no file yet)

    def load(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise AgentError(f"state_dir {str(directory)!r} cannot be created: {e.strerror}") from None
        for stale in directory.glob(f".{self.path.name}.tmp*"):  # a write cut short by a crash
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            data = read_regular(self.path, "state file")
        except FileNotFoundError:
            return
        try:
            # the boot context: a check's program or CA file that went missing fails that check, not the start
            self.state = ObjectsState.model_validate(json.loads(data), context={"boot": True})
        except (ValueError, ValidationError) as e:
            detail = format_errors(e)[0] if isinstance(e, ValidationError) else str(e)
            raise AgentError(f"state file {str(self.path)!r} is not a valid state file: {detail}") from None
        self._on_disk = data

    def commit(self, new: ObjectsState) -> bool:
        """Validate and persist `new`; returns False (and writes nothing) when nothing changed.

        Memory changes only after the file is whole on disk; on a write error (StorageError: ENOSPC,
        EIO) both keep the previous state.
        """
        validate_state(new, self._peer_names() if self._peer_names else None)
        if new == self.state:
            return False
        # pydantic's own serializer: the same compact JSON as json.dumps(model_dump()), 8x faster at 10k
        # objects (7 ms vs 62 ms), in UTF-8 (load reads bytes)
        data = new.model_dump_json().encode()
        try:
            write_durable(self.path, data)
        except StorageError:
            self._restore()
            raise
        self._on_disk = data
        self.state = new
        self.generation += 1
        return True

    def _restore(self) -> None:
        """After a failed write, the file holds the previous state again (it can only differ when the
        rename went through and the directory sync failed)."""
        try:
            current = read_regular(self.path, "state file")
        except (OSError, AgentError):
            current = None
        if current != self._on_disk and self._on_disk is not None:
            with contextlib.suppress(StorageError):
                write_durable(self.path, self._on_disk)

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
