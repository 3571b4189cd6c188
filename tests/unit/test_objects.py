"""Objects: announcement validation, whole-state checks, and the durable store's apply semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durantic_agent.errors import ValidationFailed
from durantic_agent.objects.document import parse_doc
from durantic_agent.objects.store import ObjectStore

CHECK = {"tcp": {"host": "127.0.0.1", "port": 5432}}


@pytest.mark.parametrize(
    ("ann", "expected"),
    [
        ({"name": "x", "route": "10.0.0.1/24"}, "announcements[0].route: '10.0.0.1/24' has host bits set"),
        ({"name": "x", "vip": "10.0.0.1/24", "health_check": CHECK}, "announcements[0].vip: '10.0.0.1/24' must be"),
        ({"name": "x", "vip": "10.0.0.1"}, "a vip needs a health_check"),
        ({"name": "x", "route": "10.0.0.0/24", "communities": ["65536:1"]}, "communities[0]: '65536:1' is not"),
        ({"name": "x", "route": "10.0.0.0/24", "large_communities": ["1:2:4294967296"]}, "'1:2:4294967296'"),
        ({"name": "x", "route": "10.0.0.0/24", "med": 4294967296}, "announcements[0].med: 4294967296"),
        ({"name": "x", "route": "10.0.0.0/24", "next_hop": "fd00::1"}, "next_hop fd00::1 is not of the prefix"),
        ({"name": "x", "route": "10.0.0.0/24", "colour": "red"}, "announcements[0].colour: unknown key"),
        ({"name": "bad name!", "route": "10.0.0.0/24"}, "announcements[0].name: 'bad name!'"),
    ],
)
def test_bad_announcements(ann: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        parse_doc({"announcements": [ann]})
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_apply_is_idempotent_and_persistent(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.load()
    doc = parse_doc({"announcements": [{"name": "lan", "route": "198.51.100.0/24", "communities": ["65000:100"]}]})
    _, changed = store.apply(doc)
    assert changed
    _, changed = store.apply(doc)
    assert not changed
    again = ObjectStore(tmp_path)
    again.load()
    assert again.state == store.state
    # what `get` prints, `apply` takes back as a no-op
    _, changed = store.apply(parse_doc(json.loads(json.dumps(store.state.to_doc()))))
    assert not changed


def test_rejected_change_changes_nothing(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.load()
    store.apply(parse_doc({"announcements": [{"name": "a", "route": "198.51.100.0/24"}]}))
    before = (tmp_path / "objects.json").read_bytes()
    with pytest.raises(ValidationFailed, match="already announced by 'a'"):
        store.apply(parse_doc({"announcements": [{"name": "b", "route": "198.51.100.0/24"}]}))
    with pytest.raises(ValidationFailed, match="import_policies\\[0\\]: 'nope' is not a known policy set"):
        store.apply(parse_doc({"import_policies": ["nope"]}))
    assert (tmp_path / "objects.json").read_bytes() == before
    assert [a.name for a in store.state.announcements] == ["a"]


def test_prune_removes_what_the_file_does_not_name(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.load()
    store.apply(parse_doc({"announcements": [{"name": "a", "route": "198.51.100.0/24"}]}))
    store.apply(parse_doc({"announcements": [{"name": "b", "route": "198.51.101.0/24"}]}), prune=True)
    assert [a.name for a in store.state.announcements] == ["b"]
