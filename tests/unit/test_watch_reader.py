"""The best-path watch's reader keeps nothing of an event while it waits for the next one: the first event
is the whole table, and on a quiet RIB the next may not come for hours."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from typing import Any

from durantic_agent.core.types import BestPath
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.pb import api
from durantic_agent.gobgp.watch import _read_best

SNAPSHOT = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]


def _event(prefixes: list[str]) -> bytes:
    paths = [make_path(p, "192.0.2.1") for p in prefixes]
    return bytes(api.WatchEventResponse(table=api.WatchEventResponse.TableEvent(paths=paths)).SerializeToString())


class _Call:
    """A WatchEvent stream: `msgs`, then its end; `before(i)` runs as message i is asked for."""

    def __init__(self, msgs: list[bytes], before: Callable[[int], None]) -> None:
        self.msgs, self.before, self.i = msgs, before, 0

    def __iter__(self) -> _Call:
        return self

    def __next__(self) -> bytes:
        self.before(self.i)
        self.i += 1
        if self.i > len(self.msgs):
            raise StopIteration
        return self.msgs[self.i - 1]

    def cancel(self) -> None:
        pass


class _Channel:
    def __init__(self, call: _Call) -> None:
        self.call = call

    def unary_stream(self, method: str, **kw: Any) -> Callable[[Any], _Call]:
        return lambda req: self.call

    def unary_unary(self, method: str, **kw: Any) -> Callable[..., Any]:
        def get_table(*a: Any, **k: Any) -> Any:
            raise AssertionError("no table-size probe for one path")

        return get_table


class _Map(dict[str, BestPath]):
    """The consumer's destinations (a dict that can be weakly referenced)."""


def _alive(prefixes: list[str]) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, BestPath) and o.prefix in prefixes)


def test_reader_holds_neither_the_snapshot_nor_the_replaced_map_while_waiting() -> None:
    held: dict[str, _Map] = {"map": _Map()}
    seen: dict[int, Any] = {}
    old: list[weakref.ref[_Map]] = []

    def before(i: int) -> None:
        if i == 1:  # the snapshot was taken and dropped by the consumer
            seen[1] = _alive(SNAPSHOT)
        if i == 2:  # the reader asked known() for the second event; the consumer then replaces its map
            old.append(weakref.ref(held["map"]))
            held["map"] = _Map()
            seen[2] = old[0]() is None

    reader = _read_best(
        _Channel(_Call([_event(SNAPSHOT), _event(["10.0.3.0/24"])], before)),  # type: ignore[arg-type]
        [],
        threading.Event(),
        2.0,
        5000,
        30.0,
        known=lambda: held["map"],
    )
    init, changes = next(reader)
    assert init and sorted(bp.prefix for bp, _ in changes) == SNAPSHOT
    del changes
    init, changes = next(reader)
    assert not init and [bp.prefix for bp, _ in changes] == ["10.0.3.0/24"]
    del changes
    assert list(reader) == []
    assert seen == {1: 0, 2: True}
