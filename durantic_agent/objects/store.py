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

from ..errors import AgentError, StorageError
from ..files import read_regular, write_durable
from ..validation import format_errors
from .document import ObjectsDoc, ObjectsState, validate_state
from .plan import ObjectChange, plan_apply

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
        # pydantic's own serializer: the same compact JSON as json.dumps(model_dump()) without building the
        # dicts first, in UTF-8 (load reads bytes)
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

    def apply(
        self, doc: ObjectsDoc, prune: bool = False, dry_run: bool = False, with_objects: bool = False
    ) -> tuple[ObjectsState, list[ObjectChange]]:
        """Upsert by name; with prune, objects not named in doc are removed. Returns the new state and what
        happened to each object. A dry run validates the same way and writes nothing."""
        new, changes = plan_apply(self.state, doc, prune, with_objects)
        if dry_run:
            validate_state(new, self._peer_names() if self._peer_names else None)
            return new, changes
        self.commit(new)
        return self.state, changes
