"""Incremental FIB passes: every shortcut must give exactly what the full computation gives."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest

from durantic_agent.agent.fibsync import FibSync
from durantic_agent.agent.reconcilers.routes import diff
from durantic_agent.config import AgentConfig, parse_config
from durantic_agent.core.prefix import parse_prefix
from durantic_agent.core.types import BestPath, Route
from durantic_agent.fib import Fib, desired_fib, diff_fib, mesh_members, update_fib
from durantic_agent.gobgp.decode import decode_path
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.watch import Backlog, best_path, resync_pays, resync_spacing
from durantic_agent.wg.known import KnownPeers
from durantic_agent.wg.plan import plan_and_result, plan_peers
from durantic_agent.wg.port import PeerSpec, PeerState
from durantic_agent.wg.uapi import parse_device, parse_device_text, parse_reply

OWN, KB, KC = (
    "pOCSkrZRwni5dyxWn1+puxPZBrRqtoyd+dwrRAn4ogk=",
    "zo060cy2M+x7cMF4FKXHbs0CloUFDTRHRboFhw5YfVk=",
    "Xf7dO2vUf2+ijuFdlp1bsOpTd01Ii9r53xxuASSz7yI=",
)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> AgentConfig:
    key: Path = tmp_path_factory.mktemp("k") / "prod.key"
    key.write_text("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
    key.chmod(0o600)
    doc: dict[str, Any] = {
        "machine": {"name": "a", "asn": 4200000001, "router_id": "100.64.0.1"},
        "state_dir": "/var/lib/durantic",
        "fib": {"deny": ["10.99.0.0/16"]},
        "meshes": [
            {
                "name": "prod",
                "address": "100.64.0.1/24",
                "private_key_file": str(key),
                "members": [
                    {"name": "a", "asn": 4200000001, "address": "100.64.0.1", "public_key": OWN},
                    {"name": "b", "asn": 4200000002, "address": "100.64.0.2", "public_key": KB},
                    {"name": "c", "asn": 4200000003, "address": "100.64.0.3", "public_key": KC},
                ],
            }
        ],
    }
    return parse_config(doc)


HOPS = ["100.64.0.2", "100.64.0.3", "192.0.2.1", "", "0.0.0.0"]


def random_path(rng: random.Random) -> BestPath:
    kind = rng.random()
    if kind < 0.05:
        prefix = f"10.99.{rng.randrange(4)}.0/24"  # denied
    elif kind < 0.1:
        prefix = f"100.64.0.{rng.randrange(1, 5)}/32"  # inside the mesh: members' hosts, own address
    elif kind < 0.12:
        prefix = f"fe80::d4:0:6440:{rng.randrange(1, 5)}/128"  # link-local: members' probe addresses
    else:
        prefix = f"10.{rng.randrange(3)}.{rng.randrange(40)}.0/24"
    return BestPath(prefix, rng.choice(HOPS), rng.random() < 0.05)


def test_update_fib_equals_the_full_computation(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"prod": OWN})
    rng = random.Random(7)
    for carriers in ({}, {"100.64.0.2": "100.64.0.3"}):
        best: dict[str, BestPath] = {}
        fib = desired_fib(cfg, best.values(), members, carriers)
        for _ in range(60):
            changed: dict[str, BestPath | None] = {}
            for _ in range(rng.randrange(1, 30)):
                p = random_path(rng)
                if p.prefix in best and rng.random() < 0.3:
                    del best[p.prefix]
                    changed[p.prefix] = None
                else:
                    best[p.prefix] = p
                    changed[p.prefix] = p
            before = fib
            snapshot = (dict(before.routes), {k: set(v) for k, v in before.allowed["dur-prod"].items()})
            fib, delta = update_fib(before, cfg, changed, members, carriers)
            full = desired_fib(cfg, best.values(), members, carriers)
            assert (fib.routes, fib.allowed, fib.unreachable, fib.owner) == (
                full.routes,
                full.allowed,
                full.unreachable,
                full.owner,
            )
            # the old FIB is untouched (views may still be reading it), and the delta covers every difference
            assert (before.routes, before.allowed["dur-prod"]) == snapshot
            exact = diff_fib(before, fib)
            assert delta.peers is not None and exact.peers is not None
            assert exact.routes <= delta.routes and exact.peers <= delta.peers


def test_members_hosts_survive_a_withdrawn_best_path_for_them(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"prod": OWN})
    host = BestPath("100.64.0.2/32", "100.64.0.2", False)
    fib = desired_fib(cfg, [host], members)
    fib, _ = update_fib(fib, cfg, {host.prefix: None}, members)
    assert "100.64.0.2/32" in fib.allowed["dur-prod"][KB]


def test_diff_fib_names_changed_routes_and_peers(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"prod": OWN})
    old = desired_fib(cfg, [BestPath("10.1.0.0/24", "100.64.0.2", False)], members)
    new = desired_fib(cfg, [BestPath("10.1.0.0/24", "100.64.0.3", False)], members)
    d = diff_fib(old, new)
    # same kernel route (into the mesh interface), other peer
    assert d.routes == set() and d.peers == {("dur-prod", KB), ("dur-prod", KC)}
    ext = desired_fib(cfg, [BestPath("10.1.0.0/24", "192.0.2.1", False)], members)
    assert diff_fib(new, ext).routes == {"10.1.0.0/24"} and diff_fib(new, ext).peers == {("dur-prod", KC)}
    assert diff_fib(new, new).routes == set() and diff_fib(new, new).peers == set()


def test_fibsync_incremental_then_full_when_carriers_change(cfg: AgentConfig) -> None:
    members = mesh_members(cfg, {"prod": OWN})
    sync = FibSync()
    best = {"10.1.0.0/24": BestPath("10.1.0.0/24", "100.64.0.2", False)}
    fib = sync.compute(Fib(), cfg, best, members, {})
    assert sync.take_routes() is None and sync.take_peers() is None  # first pass: everything
    assert sync.compute(fib, cfg, best, members, {}) is fib  # nothing changed: same object
    best["10.2.0.0/24"] = BestPath("10.2.0.0/24", "100.64.0.3", False)
    sync.best_change("10.2.0.0/24", best["10.2.0.0/24"])
    fib = sync.compute(fib, cfg, best, members, {})
    assert sync.take_routes() == {"10.2.0.0/24"} and sync.take_peers() == {("dur-prod", KC)}
    fib = sync.compute(fib, cfg, best, members, {"100.64.0.2": "100.64.0.3"})  # B now via C
    assert fib.allowed["dur-prod"][KC] >= {"10.1.0.0/24", "100.64.0.2/32"}
    assert sync.take_peers() == {("dur-prod", KB), ("dur-prod", KC)}
    # a peer's frozen set is reused until it changes
    allowed = fib.allowed["dur-prod"]
    first = sync.peer_allowed(("dur-prod", KB), set(), allowed)
    assert sync.peer_allowed(("dur-prod", KB), set(), allowed) is first
    assert sync.peer_allowed(("dur-prod", KB), {("dur-prod", KB)}, allowed) is not first


def test_routes_diff_only_changed_destinations() -> None:
    a, b = Route("10.0.0.0/24", dev="wg0"), Route("10.1.0.0/24", dev="wg0")
    cur = {a.dst: a, "10.2.0.0/24": Route("10.2.0.0/24", dev="wg0")}
    want = {a.dst: a, b.dst: b}
    assert diff(want, cur, only=[b.dst, "10.2.0.0/24"]) == ([b], ["10.2.0.0/24"])
    assert diff(want, cur, only=[a.dst]) == ([], [])
    assert diff(want, cur, only=[]) == ([], [])


def test_plan_on_big_sets_diffs_only_what_changed() -> None:
    big = frozenset(f"20.{i >> 8}.{i & 255}.0/24" for i in range(5000))
    cur = {KB: PeerState(KB, None, big, None, 0, 0, 0), KC: PeerState(KC, None, frozenset(), None, 0, 0, 0)}
    # one prefix moves from B to C, one new non-canonical prefix for C, B's set is otherwise the same object
    moved = "20.0.7.0/24"
    want = {KB: PeerSpec(KB, allowed_ips=big - {moved}), KC: PeerSpec(KC, allowed_ips=frozenset({moved, "10.9.9.9/8"}))}
    plan = plan_peers(cur, want)
    assert [(c.public_key, c.replace_allowed_ips, c.allowed_ips) for c in plan] == [(KC, False, ("10.0.0.0/8", moved))]
    after = plan_and_result(cur, want)[1]
    assert after[KC].allowed_ips == {moved, "10.0.0.0/8"} and plan_peers(after, want) == []
    # losing a prefix nobody takes replaces the whole list
    plan = plan_peers(after, {KB: PeerSpec(KB, allowed_ips=big - {moved, "20.0.8.0/24"}), KC: want[KC]})
    assert len(plan) == 1 and plan[0].replace_allowed_ips and len(plan[0].allowed_ips) == len(big) - 2


def test_known_peers_expire_and_forget() -> None:
    now = [100.0]
    known = KnownPeers(max_age=30.0, clock=lambda: now[0])
    peers = {KB: PeerState(KB, None, frozenset(), None, 0, 0, 0)}
    known.put("dur-x", peers)
    now[0] += 10
    known.put("dur-x", peers, read_at=known.read_at("dur-x"))  # a set does not make it fresher
    assert known.get("dur-x") is peers
    now[0] += 25
    assert known.get("dur-x") is None
    known.put("dur-x", peers)
    known.forget("dur-x")
    assert known.get("dur-x") is None


def test_backlog_needs_a_run_of_old_paths() -> None:
    b = Backlog(lag=1.0, threshold=2000)
    now = 1000.0
    assert not b.observe([now - 5] * 1999, now)
    assert not b.observe([now], now)  # a fresh path: churn, not a backlog
    assert not b.observe([now - 5] * 1999, now)
    assert b.observe([now - 5], now)


def test_backlog_run_must_pay_for_a_snapshot_of_the_table() -> None:
    # in a 50k table a snapshot costs about as much as reading a third of it as single events
    b = Backlog(lag=1.0, threshold=5000, table=50_000)
    now = 1000.0
    assert not b.observe([now - 5] * 17_000, now)
    assert b.observe([now - 5] * 500, now)


def test_resync_spacing_follows_what_the_last_snapshot_cost() -> None:
    assert resync_spacing(0.005, 30.0) == pytest.approx(0.1)  # an empty table at start: resync at once
    assert resync_spacing(0.9, 30.0) == pytest.approx(18.0)  # a 50k snapshot: ~5 % of the time at most
    assert resync_spacing(5.0, 30.0) == 30.0  # never spaced more than min_interval


def test_resync_pays_from_a_third_of_the_table_and_a_floor() -> None:
    assert resync_pays(50_000, 50_000)
    assert resync_pays(17_500, 50_000)
    assert not resync_pays(17_000, 50_000)
    assert not resync_pays(999, 100)  # small: reading through is cheap whatever the table
    assert resync_pays(1000, 1000)


def test_parse_device_text_matches_the_line_parser() -> None:
    k1, k2 = "11" * 32, "33" * 32
    reply = (
        f"private_key={'22' * 32}\nlisten_port=51820\npublic_key={k1}\nendpoint=192.0.2.1:5\n"
        "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=0\ntx_bytes=10\nrx_bytes=20\n"
        "persistent_keepalive_interval=25\nallowed_ip=10.0.0.1/32\nallowed_ip=::/0\nprotocol_version=1\n"
        f"public_key={k2}\nallowed_ip=10.9.0.0/24\nrx_bytes=7\nerrno=0\n\n"
    )
    pub = "derived"
    assert parse_device_text("dur-x", reply, lambda priv: pub if priv else None) == parse_device(
        "dur-x", parse_reply(reply), pub
    )
    with pytest.raises(Exception, match="errno=-22"):
        parse_device_text("dur-x", "errno=-22\n\n", lambda _: None)
    # without AllowedIPs (liveness, peer listings): every other field as before, fields after the
    # allowed_ip run included, a peer whose only line is an allowed_ip line included
    full = parse_device_text("dur-x", reply, lambda priv: pub if priv else None)
    k3 = "44" * 32
    lean = parse_device_text(
        "dur-x", reply.replace("errno=0", f"public_key={k3}\nallowed_ip=10.7.0.0/24\nerrno=0"), lambda p: pub, False
    )
    assert set(full.peers) < set(lean.peers) and len(lean.peers) == 3
    for key, peer in full.peers.items():
        assert lean.peers[key] == dataclasses.replace(peer, allowed_ips=frozenset())
    assert lean.peers[next(iter(lean.peers))].rx_bytes == 20


def test_parse_prefix_agrees_with_ipaddress() -> None:
    rng = random.Random(3)
    samples = ["10.0.0.1/24", "0.0.0.0/0", "255.255.255.255", "10.0.0.0/33", "10.0.0/8", "01.2.3.4/8", "fd00::1/64"]
    samples += ["10.0.0.0/08", "10.0.0.0/", "10.0.0.0/ 8", "10.0.0.0/+8", "10.0.0.0/\u0668", "1.2.3.4/32", "1.2.3.4/0"]
    samples += [
        f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/{rng.randrange(34)}"
        for _ in range(500)
    ]
    for s in samples:
        try:
            want = ipaddress.ip_network(s, strict=False)
        except ValueError:
            with pytest.raises(ValueError):
                parse_prefix(s)
            continue
        got = parse_prefix(s)
        assert (got.text, got.prefixlen, got.packed, got.version) == (
            str(want),
            want.prefixlen,
            want.network_address.packed,
            want.version,
        )


def test_best_path_reads_what_decode_path_reads() -> None:
    for p in (
        make_path("10.50.0.10/32", None),
        make_path("2001:db8::/48", None),
        make_path("10.5.0.0/24", "192.0.2.7"),
    ):
        full = decode_path(p)
        assert best_path(p) == BestPath(full.prefix, full.next_hop, full.neighbor_ip is None)
    learned = make_path("10.5.0.0/24", "192.0.2.7")
    learned.neighbor_ip = "192.0.2.7"
    assert best_path(learned) == BestPath("10.5.0.0/24", "192.0.2.7", False)
