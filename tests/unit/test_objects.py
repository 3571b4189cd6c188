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
        ({"name": "x", "route": "10.0.0.1/24"}, "announcements[x].route: '10.0.0.1/24' has host bits set"),
        ({"name": "x", "vip": "10.0.0.1/24", "health_check": CHECK}, "announcements[x].vip: '10.0.0.1/24' must be"),
        ({"name": "x", "vip": "10.0.0.1"}, "a vip needs a health_check"),
        ({"name": "x", "route": "10.0.0.0/24", "communities": ["65536:1"]}, "communities[0]: '65536:1' is not"),
        ({"name": "x", "route": "10.0.0.0/24", "large_communities": ["1:2:4294967296"]}, "'1:2:4294967296'"),
        ({"name": "x", "route": "10.0.0.0/24", "med": 4294967296}, "announcements[x].med: 4294967296"),
        ({"name": "x", "route": "10.0.0.0/24", "next_hop": "fd00::1"}, "next_hop fd00::1 is not of the prefix"),
        ({"name": "x", "route": "10.0.0.0/24", "colour": "red"}, "announcements[x].colour: unknown key"),
        ({"name": "bad name!", "route": "10.0.0.0/24"}, "announcements[bad name!].name: 'bad name!'"),
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
    _, changes = store.apply(doc)
    assert [(c.ref, c.action) for c in changes] == [("announcement/lan", "created")]
    _, changes = store.apply(doc)
    assert [(c.ref, c.action) for c in changes] == [("announcement/lan", "unchanged")]
    again = ObjectStore(tmp_path)
    again.load()
    assert again.state == store.state
    # what `get` prints, `apply` takes back as a no-op
    _, changes = store.apply(parse_doc(json.loads(json.dumps(store.state.to_doc()))))
    assert {c.action for c in changes} == {"unchanged"}


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


def test_every_error_of_a_file_at_once_named_as_typed() -> None:
    doc = {
        "announcements": [
            {"name": "web", "vip": "10.0.0.300", "health_check": CHECK},
            {"name": "lan", "route": "10.0.0.0/24", "med": -1},
            {"name": "web", "route": "10.1.0.0/24"},
        ],
        "policy_sets": [{"name": "p", "rules": [{"name": "r", "actions": {"local_pref": "high"}}]}],
    }
    with pytest.raises(ValidationFailed) as e:
        parse_doc(doc)
    lines = e.value.messages
    assert "announcements[web].vip: '10.0.0.300' is not a valid IP address" in lines
    assert any(ln.startswith("announcements[lan].med: -1 ") for ln in lines)
    assert "announcements[web].name: 'web' is a duplicate name" in lines
    assert any(ln.startswith("policy_sets[p].rules[r].actions.local_pref: 'high' ") for ln in lines)
    assert len(lines) == 4


def test_cross_object_errors_all_at_once(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.load()
    with pytest.raises(ValidationFailed) as e:
        store.apply(
            parse_doc(
                {
                    "announcements": [{"name": "a", "route": "10.0.0.0/24"}, {"name": "b", "route": "10.0.0.0/24"}],
                    "import_policies": ["nope"],
                    "export_policies": ["nada"],
                }
            )
        )
    assert e.value.messages == [
        "announcements[b].route: '10.0.0.0/24' is already announced by 'a'",
        "import_policies[0]: 'nope' is not a known policy set",
        "export_policies[0]: 'nada' is not a known policy set",
    ]


def test_plan_reports_every_object_and_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    store.load()
    pset = {"name": "p", "rules": [{"name": "r", "actions": {"local_pref": 200}}]}
    store.apply(
        parse_doc(
            {
                "announcements": [{"name": "a", "route": "10.0.0.0/24"}, {"name": "b", "route": "10.0.1.0/24"}],
                "policy_sets": [pset],
                "import_policies": ["p"],
            }
        )
    )
    before = (tmp_path / "objects.json").read_bytes()
    doc = parse_doc(
        {"announcements": [{"name": "a", "route": "10.0.0.0/24", "med": 5}, {"name": "c", "route": "10.0.2.0/24"}]}
    )
    state, changes = store.apply(doc, prune=True, dry_run=True, with_objects=True)
    assert [(c.ref, c.action) for c in changes] == [
        ("announcement/a", "configured"),
        ("announcement/c", "created"),
        ("announcement/b", "pruned"),
        ("policy_set/p", "pruned"),
        ("import_policies", "configured"),
    ]
    assert changes[0].before == {"name": "a", "route": "10.0.0.0/24"}
    assert changes[0].after == {"name": "a", "route": "10.0.0.0/24", "med": 5}
    assert changes[2].after is None and changes[4].before == ["p"] and changes[4].after == []
    assert [a.name for a in state.announcements] == ["a", "c"]
    assert (tmp_path / "objects.json").read_bytes() == before and len(store.state.announcements) == 2
    # a dry run validates like the real apply: a dangling assignment is refused
    with pytest.raises(ValidationFailed, match="'p' is not a known policy set"):
        store.apply(parse_doc({"import_policies": ["p"]}), prune=True, dry_run=True)


def test_unchanged_is_decided_by_fields_not_by_what_the_agent_cached(tmp_path: Path) -> None:
    """The agent caches each announcement's path on the object it holds; a file naming the same fields
    is still `unchanged`, and the held object stays (a second apply writes nothing)."""
    store = ObjectStore(tmp_path)
    store.load()
    doc = {"announcements": [{"name": "a", "route": "10.0.0.0/24", "communities": ["65000:1"]}]}
    store.apply(parse_doc(doc))
    held = store.state.announcements[0]
    held.path_spec(tagging=False)  # what the paths reconciler does on every pass
    generation = store.generation
    _, changes = store.apply(parse_doc(doc))
    assert [(c.ref, c.action) for c in changes] == [("announcement/a", "unchanged")]
    assert store.state.announcements[0] is held and store.generation == generation
    changed = {"announcements": [{"name": "a", "route": "10.0.0.0/24", "communities": ["65000:2"]}]}
    _, changes = store.apply(parse_doc(changed))
    assert [(c.ref, c.action) for c in changes] == [("announcement/a", "configured")]
    assert store.state.announcements[0].communities != held.communities and store.generation == generation + 1


def test_route_fast_path_agrees_with_ipaddress() -> None:
    """The IPv4 fast path in the route validator accepts exactly what ipaddress accepts, in the same form."""
    import ipaddress
    import random

    from durantic_agent.objects.announcement import _ipv4_prefix

    rnd = random.Random(7)
    parts = ["0", "1", "10", "01", "255", "256", "999", "", " 1", "1 ", "٣", "+1", "0x1"]
    plens = ["0", "8", "24", "32", "33", "024", "", " 24", "+8", "٣", "99", "-1"]
    cases = ["10.0.0.0/8", "10.0.0.1/8", "0.0.0.0/0", "1.2.3.4/32", "1.2.3/24", "::/0", "1.2.3.0/24 "]
    for _ in range(3000):
        addr = ".".join(rnd.choice(parts) for _ in range(rnd.choice([3, 4, 4, 4, 5])))
        cases.append(f"{addr}/{rnd.choice(plens)}")
    for plen in range(33):  # valid networks of every length, and the same with one host bit set
        net = rnd.getrandbits(32) & ~((1 << (32 - plen)) - 1) & 0xFFFFFFFF
        cases.append(f"{ipaddress.IPv4Address(net)}/{plen}")
        if plen < 32:
            cases.append(f"{ipaddress.IPv4Address(net | 1)}/{plen}")
    accepted = 0
    for c in cases:
        try:
            slow: str | None = str(ipaddress.ip_network(c, strict=True))
        except ValueError:
            slow = None
        fast = _ipv4_prefix(c)
        assert fast is None or fast == slow, c
        accepted += fast is not None
    assert accepted >= 33  # the fast path is actually taken
