"""Each reconciler against an in-memory port: the diff it applies, in what order, that a second pass is a
no-op, and that a resync finds and repairs state changed behind its back (counted in the drift metric)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from durantic_agent.agent.fibsync import FibSync
from durantic_agent.agent.reconcilers.paths import PathsReconciler
from durantic_agent.agent.reconcilers.peers import PeersReconciler
from durantic_agent.agent.reconcilers.policies import PoliciesReconciler
from durantic_agent.agent.reconcilers.routes import RoutesReconciler
from durantic_agent.agent.reconcilers.vips import VipsReconciler
from durantic_agent.agent.reconcilers.wireguard import WireGuardReconciler
from durantic_agent.agent.wanted import Wanted, WgInterface, WgMember
from durantic_agent.core.policies import Policy, PolicyChange, PolicyProgram
from durantic_agent.core.types import PathSpec, PeerSpec, Route
from durantic_agent.desired import Desired
from durantic_agent.fib import Fib
from durantic_agent.metrics import AGENT_METRICS
from durantic_agent.wg.port import DeviceState, PeerState
from durantic_agent.wg.port import PeerSpec as WgPeerSpec


def drift(kind: str) -> float:
    return float(AGENT_METRICS.drift_repaired.labels(kind)._value.get())


class FakeSpeaker:
    def __init__(self) -> None:
        self.paths: dict[str, PathSpec] = {}
        self.peers: dict[str, str] = {}
        self.policies: PolicyProgram | None = None
        self.log: list[str] = []

    async def local_paths(self, prefixes: Collection[str] | None = None) -> set[str]:
        return set(self.paths) if prefixes is None else set(self.paths) & set(prefixes)

    async def add_paths(self, specs: Iterable[PathSpec]) -> None:
        for s in specs:
            self.paths[s.prefix] = s
            self.log.append(f"add {s.prefix}")

    async def delete_paths(self, specs: Iterable[PathSpec]) -> None:
        for s in specs:
            self.paths.pop(s.prefix, None)
            self.log.append(f"del {s.prefix}")

    async def owned_peers(self) -> dict[str, str]:
        return dict(self.peers)

    async def add_peer(self, spec: PeerSpec, local_restarting: bool) -> None:
        self.peers[spec.address] = spec.fingerprint()
        self.log.append(f"add peer {spec.address}")

    async def delete_peer(self, address: str) -> None:
        self.peers.pop(address, None)
        self.log.append(f"del peer {address}")

    async def apply_policies(self, want: PolicyProgram) -> PolicyChange:
        changed = want != self.policies
        self.policies = want
        added = tuple(p.name for p in want.policies) if changed else ()
        return PolicyChange(added_policies=added, import_changed=changed)


def _paths(*prefixes: str) -> Wanted:
    return Wanted(desired=Desired(paths={p: PathSpec(prefix=p, owner="x") for p in prefixes}))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_paths_diff_second_pass_noop_and_resync_repairs_a_deleted_path() -> None:
    sp = FakeSpeaker()
    r = PathsReconciler(sp)
    r.forget(empty=True)
    assert run(r.reconcile(_paths("10.0.0.1/32", "10.0.0.2/32"), False)) == 2
    assert run(r.reconcile(_paths("10.0.0.1/32", "10.0.0.2/32"), False)) == 0
    assert run(r.reconcile(_paths("10.0.0.2/32"), False)) == 1 and set(sp.paths) == {"10.0.0.2/32"}
    del sp.paths["10.0.0.2/32"]  # gobgp global rib del, behind the agent's back
    assert run(r.reconcile(_paths("10.0.0.2/32"), False)) == 0  # memory alone does not see it
    before = drift("paths")
    assert run(r.reconcile(_paths("10.0.0.2/32"), True)) == 1
    assert set(sp.paths) == {"10.0.0.2/32"} and drift("paths") == before + 1


def test_paths_adopted_gobgpd_drops_stale_local_paths() -> None:
    sp = FakeSpeaker()
    sp.paths = {"10.9.0.0/24": PathSpec(prefix="10.9.0.0/24")}
    r = PathsReconciler(sp)
    r.forget(empty=False)
    run(r.reconcile(_paths("10.0.0.1/32"), False))
    assert set(sp.paths) == {"10.0.0.1/32"}


def test_paths_replay_readds_without_withdrawing() -> None:
    sp = FakeSpeaker()
    r = PathsReconciler(sp)
    r.forget(empty=True)
    run(r.reconcile(_paths("10.0.0.1/32"), False))
    sp.log.clear()
    r.replay()
    run(r.reconcile(_paths("10.0.0.1/32"), False))
    assert sp.log == ["add 10.0.0.1/32"]


def _peer(addr: str, asn: int = 65001) -> PeerSpec:
    return PeerSpec(name=f"p{asn}", address=addr, asn=asn, kind="neighbor")


def test_peers_delete_changed_before_add_and_drift_is_counted() -> None:
    sp = FakeSpeaker()
    r = PeersReconciler(sp, lambda: False)
    w = Wanted(desired=Desired(peers={"192.0.2.1": _peer("192.0.2.1")}))
    assert run(r.reconcile(w, False)) == 1
    assert run(r.reconcile(w, False)) == 0
    w2 = Wanted(desired=Desired(peers={"192.0.2.1": _peer("192.0.2.1", 65002)}))
    sp.log.clear()
    run(r.reconcile(w2, False))
    assert sp.log == ["del peer 192.0.2.1", "add peer 192.0.2.1"]
    sp.peers.clear()  # someone deleted the session in gobgpd
    before = drift("peers")
    assert run(r.reconcile(w2, False)) == 1 and drift("peers") == before + 1


def test_policies_applied_once_and_resync_reapplies() -> None:
    sp = FakeSpeaker()
    seen: list[PolicyChange] = []
    r = PoliciesReconciler(sp, on_change=seen.append)
    want = Wanted(policies=PolicyProgram(policies=(Policy("durantic-x", ()),)))
    assert run(r.reconcile(want, False)) == 2
    assert run(r.reconcile(want, False)) == 0
    sp.policies = None  # removed behind the agent's back
    before = drift("policies")
    run(r.reconcile(want, True))
    assert sp.policies == want.policies and drift("policies") == before + 1 and len(seen) == 2


class FakeTable:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    async def dump(self) -> dict[str, Route]:
        return dict(self.routes)

    async def replace(self, routes: Iterable[Route]) -> None:
        for r in routes:
            self.routes[r.dst] = r

    async def delete(self, dsts: Iterable[str]) -> None:
        for d in dsts:
            self.routes.pop(d, None)


def _fib(*dsts: str) -> Wanted:
    return Wanted(fib=Fib(routes={d: Route(d, dev="dur-x") for d in dsts}))


def test_routes_incremental_and_resync_restores_a_deleted_route() -> None:
    table, sync = FakeTable(), FibSync()
    r = RoutesReconciler(table, sync)
    assert run(r.reconcile(_fib("10.1.0.0/24", "10.2.0.0/24"), False)) == 2
    sync.routes_pending = set()  # nothing changed since
    assert run(r.reconcile(_fib("10.1.0.0/24", "10.2.0.0/24"), False)) == 0
    del table.routes["10.1.0.0/24"]  # ip route del, behind the agent's back
    before = drift("routes")
    assert run(r.reconcile(_fib("10.1.0.0/24", "10.2.0.0/24"), True)) == 1
    assert set(table.routes) == {"10.1.0.0/24", "10.2.0.0/24"} and drift("routes") == before + 1


def test_routes_left_alone_while_fib_disabled() -> None:
    table = FakeTable()
    table.routes = {"10.1.0.0/24": Route("10.1.0.0/24", dev="dur-x")}
    r = RoutesReconciler(table, FibSync())
    run(r.reconcile(Wanted(fib_enabled=False), True))
    assert set(table.routes) == {"10.1.0.0/24"}


class FakeLoopback:
    def __init__(self) -> None:
        self.addrs: set[str] = set()

    async def owned(self) -> set[str]:
        return set(self.addrs)

    async def ensure(self, wanted: set[str]) -> None:
        self.addrs = set(wanted)


def test_vips_bound_and_resync_rebinds_a_removed_address() -> None:
    lo = FakeLoopback()
    r = VipsReconciler(lo)
    w = Wanted(desired=Desired(vips=frozenset({"10.50.0.10"})))
    assert run(r.reconcile(w, False)) == 1
    assert run(r.reconcile(w, False)) == 0
    lo.addrs.clear()  # ip addr del, behind the agent's back
    assert run(r.reconcile(w, False)) == 0
    before = drift("vips")
    assert run(r.reconcile(w, True)) == 1 and lo.addrs == {"10.50.0.10"} and drift("vips") == before + 1


class FakeWg:
    def __init__(self) -> None:
        self.ifaces: dict[str, dict[str, WgPeerSpec]] = {}
        self.forgotten: list[str] = []

    async def ensure_interface(
        self, ifname: str, private_key_b64: str, listen_port: int, address: str, mtu: int = 1420
    ) -> None:
        self.ifaces.setdefault(ifname, {})

    async def delete_interface(self, ifname: str) -> None:
        self.ifaces.pop(ifname, None)

    async def interfaces(self) -> list[str]:
        return sorted(self.ifaces)

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        peers = {
            k: PeerState(k, p.endpoint, p.allowed_ips, None, 0, 0, p.persistent_keepalive)
            for k, p in self.ifaces[ifname].items()
        }
        return DeviceState(ifname, None, 51820, peers)

    async def set_peers(self, ifname: str, peers: Mapping[str, WgPeerSpec]) -> None:
        self.ifaces[ifname] = dict(peers)

    def forget(self, ifname: str) -> None:
        self.forgotten.append(ifname)

    async def close(self) -> None:
        pass


KEY = "A" * 43 + "="


def _wg(*allowed: str) -> Wanted:
    iface = WgInterface("dur-t", "k", 51820, "100.64.0.1/24", (WgMember(KEY, None, 2),))
    return Wanted(fib=Fib(allowed={"dur-t": {KEY: set(allowed)}}), interfaces={"dur-t": iface})


def test_wireguard_interfaces_peers_and_resync_restores_allowed_ips() -> None:
    wg, sync = FakeWg(), FibSync()
    r = WireGuardReconciler(sync, "dur-")
    r.backend = wg
    wg.ifaces["dur-old"] = {}  # an interface of ours no mesh wants any more
    wg.ifaces["wg0"] = {}  # not ours: never touched
    assert run(r.reconcile(_wg("10.1.0.0/24"), False)) == 3
    assert sorted(wg.ifaces) == ["dur-t", "wg0"]
    assert wg.ifaces["dur-t"][KEY].allowed_ips == frozenset({"10.1.0.0/24"})
    sync.peers_pending = set()
    assert run(r.reconcile(_wg("10.1.0.0/24"), False)) == 0
    wg.ifaces["dur-t"][KEY] = WgPeerSpec(KEY)  # wg set ... allowed-ips "", behind the agent's back
    before = drift("wireguard")
    sync.peers_pending = set()
    assert run(r.reconcile(_wg("10.1.0.0/24"), True)) == 1
    assert wg.ifaces["dur-t"][KEY].allowed_ips == frozenset({"10.1.0.0/24"})
    assert drift("wireguard") == before + 1 and wg.forgotten == ["dur-t"]


def test_routes_present_stay_as_they_are_during_a_restart_hold() -> None:
    table, sync = FakeTable(), FibSync()
    table.routes = {d: Route(d, dev="dur-x") for d in ("10.1.0.0/24", "10.2.0.0/24")}  # a previous run's
    holding = True
    r = RoutesReconciler(table, sync, hold=lambda: holding)
    assert run(r.reconcile(_fib("10.3.0.0/24"), False)) == 1  # gobgpd has not re-learned 10.1 and 10.2 yet
    assert set(table.routes) == {"10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"}
    sync.routes_pending = set()
    assert run(r.reconcile(_fib("10.1.0.0/24", "10.3.0.0/24"), False)) == 0  # 10.1 re-learned: as it was
    # a path gobgpd prefers only while its sessions come back (another device) does not replace it yet
    moved = {**_fib("10.3.0.0/24").fib.routes, "10.1.0.0/24": Route("10.1.0.0/24", dev="dur-y")}
    sync.routes_pending = None
    assert run(r.reconcile(Wanted(fib=Fib(routes=moved)), False)) == 0
    assert table.routes["10.1.0.0/24"].dev == "dur-x"
    holding = False  # the restart is over: what is still not wanted goes, what changed is replaced
    sync.routes_pending = None
    assert run(r.reconcile(Wanted(fib=Fib(routes=moved)), False)) == 2
    assert table.routes == moved


def test_wireguard_allowed_ips_neither_shrink_nor_move_during_a_restart_hold() -> None:
    wg, sync = FakeWg(), FibSync()
    other = "B" * 43 + "="
    wg.ifaces["dur-t"] = {  # a previous run's AllowedIPs; 10.2 is wanted on the other peer
        KEY: WgPeerSpec(KEY, None, frozenset({"10.1.0.0/24", "10.2.0.0/24"}), 2),
        other: WgPeerSpec(other, None, frozenset(), 2),
    }
    holding = True
    r = WireGuardReconciler(sync, "dur-", hold=lambda: holding)
    r.backend = wg
    iface = WgInterface("dur-t", "k", 51820, "100.64.0.1/24", (WgMember(KEY, None, 2), WgMember(other, None, 2)))
    want = Wanted(
        fib=Fib(allowed={"dur-t": {KEY: {"10.3.0.0/24"}, other: {"10.2.0.0/24", "10.4.0.0/24"}}}),
        interfaces={"dur-t": iface},
    )
    run(r.reconcile(want, False))
    assert wg.ifaces["dur-t"][KEY].allowed_ips == {"10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"}
    assert wg.ifaces["dur-t"][other].allowed_ips == {"10.4.0.0/24"}  # only what no peer had yet
    holding = False
    sync.peers_pending = None
    run(r.reconcile(want, False))
    assert wg.ifaces["dur-t"][KEY].allowed_ips == {"10.3.0.0/24"}
    assert wg.ifaces["dur-t"][other].allowed_ips == {"10.2.0.0/24", "10.4.0.0/24"}
