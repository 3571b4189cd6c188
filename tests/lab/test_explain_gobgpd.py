"""explain() against real gobgpd: for each rule that can decide, build the case between real speakers,
read the receiver's RIB, and check we pick gobgpd's best path and name the rule that made it win.

One namespace, six gobgpd on their own addresses on `lo` (10.77.0.x: not loopback, so next-hop-self
gives next hops the receiver accepts). R (AS 65000) receives from C and D (iBGP, AS 65000) and from
A and B (eBGP, both AS 65001, so MED is comparable). Scenarios use one prefix each and run concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from durantic_agent.core.types import RibPath
from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.decode import decode_destination
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.pb import ESTABLISHED, GLOBAL, V4U, V6U, api
from durantic_agent.views.explain import explain, select_best

from .harness import Lab

pytestmark = pytest.mark.lab

R_ASN = 65000
# name -> (address, asn, router id)
SPEAKERS = {
    "r": ("10.77.0.1", R_ASN, "10.77.0.1"),
    "c": ("10.77.0.2", R_ASN, "10.77.0.2"),  # iBGP, lower address than A and B on purpose
    "d": ("10.77.0.3", R_ASN, "10.0.0.1"),  # iBGP, lowest router ID but higher address than C
    "a": ("10.77.0.4", 65001, "10.77.0.4"),
    "b": ("10.77.0.5", 65001, "10.77.0.5"),  # same AS as A, higher address
}
LP_PREFIX = "10.99.1.0/24"


async def wait_until(pred: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = await pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def _peer(addr: str, asn: int, local: str, v6: bool = False) -> Any:
    fams = [V4U, V6U] if v6 else [V4U]
    return api.Peer(
        conf=api.PeerConf(neighbor_address=addr, peer_asn=asn),
        transport=api.Transport(local_address=local),
        timers=api.Timers(config=api.TimersConfig(connect_retry=5, hold_time=9, keepalive_interval=3)),
        afi_safis=[api.AfiSafi(config=api.AfiSafiConfig(family=f, enabled=True)) for f in fams],
    )


async def rib(client: GobgpClient, prefix: str) -> list[RibPath]:
    fam = V6U if ":" in prefix else V4U
    req = api.ListPathRequest(table_type=GLOBAL, family=fam, prefixes=[api.TableLookupPrefix(prefix=prefix)])
    out: list[RibPath] = []
    async for r in client.stream("ListPath", req):
        out.extend(decode_destination(r.destination))
    return out


@dataclasses.dataclass
class Topo:
    c: dict[str, GobgpClient]

    async def announce(self, who: str, prefix: str, **kw: Any) -> None:
        await self.c[who].call("AddPath", api.AddPathRequest(table_type=GLOBAL, path=make_path(prefix, **kw)))

    async def paths_at_r(self, prefix: str, n: int) -> list[RibPath]:
        async def have() -> list[RibPath] | None:
            ps = await rib(self.c["r"], prefix)
            return ps if len(ps) >= n else None

        result: list[RibPath] = await wait_until(have, 10, f"{n} paths for {prefix} at R")
        return result

    async def loser_first(
        self, prefix: str, loser: str, lkw: dict[str, Any], winner: str, wkw: dict[str, Any]
    ) -> list[RibPath]:
        # The loser is older (and for most cases has the lower address), so only the rule under test can
        # make the winner win.
        await self.announce(loser, prefix, **lkw)
        await self.paths_at_r(prefix, 1)
        await self.announce(winner, prefix, **wkw)
        return await self.paths_at_r(prefix, 2)


@pytest.fixture(scope="module")
async def topo(lab: Lab) -> AsyncIterator[Topo]:
    ns = lab.ns("ex")
    for addr, _, _ in SPEAKERS.values():
        lab.sh(ns, f"ip addr add {addr}/32 dev lo")
    clients: dict[str, GobgpClient] = {}
    try:
        for name in SPEAKERS:
            _, sock = lab.start_gobgpd(f"ex-{name}", ns)
            clients[name] = GobgpClient(str(sock))
        for name, (addr, asn, rid) in SPEAKERS.items():
            c = clients[name]
            await wait_until(_answers(c), 10, f"gobgpd {name}")
            g = api.Global(asn=asn, router_id=rid, listen_port=179, listen_addresses=[addr])
            await c.call("StartBgp", api.StartBgpRequest(**{"global": g}))
        await _lp_import_policy(clients["r"])
        r_addr = SPEAKERS["r"][0]
        for name, (addr, asn, _) in SPEAKERS.items():
            if name == "r":
                continue
            await clients["r"].call("AddPeer", api.AddPeerRequest(peer=_peer(addr, asn, r_addr, v6=name == "a")))
            await clients[name].call("AddPeer", api.AddPeerRequest(peer=_peer(r_addr, R_ASN, addr, v6=name == "a")))

        async def all_up() -> bool:
            peers = await clients["r"].list_peers()
            return len(peers) == 4 and all(p.state.session_state == ESTABLISHED for p in peers)

        await wait_until(all_up, 40, "R's four sessions established")
        yield Topo(clients)
    finally:
        for c in clients.values():
            await c.close()


def _answers(c: GobgpClient) -> Callable[[], Awaitable[bool]]:
    async def pred() -> bool:
        try:
            await c.get_global(timeout=1.0)
            return True
        except Exception:
            return False

    return pred


async def _lp_import_policy(r: GobgpClient) -> None:
    """R: LOCAL_PREF 200 for LP_PREFIX when learned from B (an import policy, as durantic builds them)."""
    sets = [
        api.DefinedSet(
            defined_type=api.DEFINED_TYPE_PREFIX,
            name="lp-pfx",
            prefixes=[api.Prefix(ip_prefix=LP_PREFIX, mask_length_min=24, mask_length_max=24)],
        ),
        api.DefinedSet(defined_type=api.DEFINED_TYPE_NEIGHBOR, name="lp-from-b", list=[SPEAKERS["b"][0] + "/32"]),
    ]
    for s in sets:
        await r.call("AddDefinedSet", api.AddDefinedSetRequest(defined_set=s))
    stmt = api.Statement(
        name="lp-s1",
        conditions=api.Conditions(
            prefix_set=api.MatchSet(type=api.MatchSet.TYPE_ANY, name="lp-pfx"),
            neighbor_set=api.MatchSet(type=api.MatchSet.TYPE_ANY, name="lp-from-b"),
        ),
        actions=api.Actions(route_action=api.ROUTE_ACTION_ACCEPT, local_pref=api.LocalPrefAction(value=200)),
    )
    await r.call("AddPolicy", api.AddPolicyRequest(policy=api.Policy(name="lp", statements=[stmt])))
    await r.call(
        "AddPolicyAssignment",
        api.AddPolicyAssignmentRequest(
            assignment=api.PolicyAssignment(
                name="global",
                direction=api.POLICY_DIRECTION_IMPORT,
                policies=[api.Policy(name="lp")],
                default_action=api.ROUTE_ACTION_ACCEPT,
            )
        ),
    )


# ----- scenarios: each returns R's paths for its prefix ------------------------------------------------


async def sc_local_pref(t: Topo) -> list[RibPath]:
    return await t.loser_first(LP_PREFIX, "a", {"next_hop": None}, "b", {"next_hop": None})


async def sc_local_origin(t: Topo) -> list[RibPath]:
    # R's own path has the longer AS path and a worse origin, yet it wins: local origin comes first.
    return await t.loser_first(
        "10.99.2.0/24",
        "a",
        {"next_hop": None},
        "r",
        {"next_hop": "10.77.0.1", "as_path": [65010, 65011, 65012], "origin": "incomplete"},
    )


async def sc_as_path(t: Topo) -> list[RibPath]:
    return await t.loser_first(
        "10.99.3.0/24", "a", {"next_hop": None, "as_path": [65001, 65001]}, "b", {"next_hop": None}
    )


async def sc_origin(t: Topo) -> list[RibPath]:
    return await t.loser_first(
        "10.99.4.0/24", "a", {"next_hop": None, "origin": "incomplete"}, "b", {"next_hop": None, "origin": "igp"}
    )


async def sc_med(t: Topo) -> list[RibPath]:
    return await t.loser_first("10.99.5.0/24", "a", {"next_hop": None, "med": 50}, "b", {"next_hop": None, "med": 10})


async def sc_ebgp_over_ibgp(t: Topo) -> list[RibPath]:
    # C (iBGP, lower address, older) carries the same AS path length and first AS as A's eBGP path.
    return await t.loser_first("10.99.6.0/24", "c", {"next_hop": None, "as_path": [65001]}, "a", {"next_hop": None})


async def sc_older(t: Topo) -> list[RibPath]:
    prefix = "10.99.7.0/24"
    await t.announce("b", prefix, next_hop=None)
    (first,) = await t.paths_at_r(prefix, 1)
    # Not a fixed sleep: wait for the clock to pass the second B's path was stamped with (1 s resolution).
    await wait_until(_after(first.age), 3, "the next second")
    await t.announce("a", prefix, next_hop=None)  # A has the lower address: only age makes B win
    return await t.paths_at_r(prefix, 2)


def _after(ts: int) -> Callable[[], Awaitable[bool]]:
    async def pred() -> bool:
        return time.time() >= ts + 1.05

    return pred


async def sc_neighbor_address(t: Topo) -> list[RibPath]:
    # Both arrive within one second (their ages tie), so the lower neighbour address (A) decides.
    for attempt in range(5):
        prefix = f"10.99.{80 + attempt}.0/24"
        await wait_until(_fresh_second, 2, "the start of a second")
        await asyncio.gather(t.announce("b", prefix, next_hop=None), t.announce("a", prefix, next_hop=None))
        paths = await t.paths_at_r(prefix, 2)
        if paths[0].age == paths[1].age:
            return paths
    raise AssertionError("could not get two paths into the same second")


async def _fresh_second() -> bool:
    return time.time() % 1.0 < 0.5


async def sc_router_id(t: Topo) -> list[RibPath]:
    # iBGP/iBGP: D has the lower router ID (10.0.0.1) but the higher address than C.
    return await t.loser_first("10.99.9.0/24", "c", {"next_hop": None}, "d", {"next_hop": None})


SCENARIOS: dict[str, tuple[Callable[[Topo], Awaitable[list[RibPath]]], str, str, str]] = {
    # name: (scenario, expected best source, expected rule, expected text)
    "local_pref": (sc_local_pref, "10.77.0.5", "local_pref", "LOCAL_PREF 200 > 100"),
    "local_origin": (sc_local_origin, "local", "local_origin", "local origin (announced by this machine)"),
    "as_path": (sc_as_path, "10.77.0.5", "as_path", "AS path length 1 < 3"),
    "origin": (sc_origin, "10.77.0.5", "origin", "origin IGP < INCOMPLETE"),
    "med": (sc_med, "10.77.0.5", "med", "MED 10 < 50 (same neighbour AS 65001)"),
    "ebgp_over_ibgp": (sc_ebgp_over_ibgp, "10.77.0.4", "ebgp_over_ibgp", "eBGP over iBGP"),
    "older": (sc_older, "10.77.0.5", "older", "older path (eBGP): "),
    "neighbor_address": (
        sc_neighbor_address,
        "10.77.0.4",
        "neighbor_address",
        "lower neighbour address 10.77.0.4 < 10.77.0.5",
    ),
    "router_id": (sc_router_id, "10.77.0.3", "router_id", "lower router ID 10.0.0.1 < 10.77.0.2"),
}


@pytest.fixture(scope="module")
async def outcomes(topo: Topo) -> dict[str, list[RibPath] | BaseException]:
    names = list(SCENARIOS)
    results = await asyncio.gather(*(SCENARIOS[n][0](topo) for n in names), return_exceptions=True)
    return dict(zip(names, results, strict=True))


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_explain_matches_gobgpd(name: str, outcomes: dict[str, list[RibPath] | BaseException]) -> None:
    paths = outcomes[name]
    if isinstance(paths, BaseException):
        raise paths
    _, source, rule, text = SCENARIOS[name]
    assert len(paths) == 2, paths
    flagged = [i for i, p in enumerate(paths) if p.best]
    assert len(flagged) == 1, paths
    winner = paths[flagged[0]]
    assert (winner.neighbor_ip or "local") == source, paths
    # Our reproduction of the choice, without gobgpd's flag:
    unflagged = [dataclasses.replace(p, best=False) for p in paths]
    assert select_best(unflagged, R_ASN) == flagged[0]
    for ps in (paths, unflagged):
        (e,) = explain(ps, R_ASN)
        assert e.path_index == 1 - flagged[0]
        assert e.rule == rule, (e, paths)
        assert e.text.startswith(text), (e, paths)


async def test_ipv6_local_path_next_hop_self(topo: Topo) -> None:
    """An IPv6 VIP with next_hop=None (MP_REACH '::') is accepted and reaches R over the IPv4 session."""
    await topo.announce("a", "2001:db8:77::10/128", next_hop=None, communities=["65001:7"])
    local = await rib(topo.c["a"], "2001:db8:77::10/128")
    assert [(p.family, p.next_hop, p.neighbor_ip) for p in local] == [("ipv6", "::", None)]
    (p,) = await topo.paths_at_r("2001:db8:77::10/128", 1)
    assert (p.family, p.neighbor_ip, p.communities, p.best) == ("ipv6", "10.77.0.4", ("65001:7",), True)
    # next-hop-self on an IPv4-only session: the receiver's RIB shows A's IPv4 session address as the
    # next hop of the IPv6 route (GoBGP prints the IPv4-mapped address in IPv4 form).
    assert p.next_hop == "10.77.0.4", p
