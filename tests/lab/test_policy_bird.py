"""Route policy on a live session with an independent BGP speaker (BIRD 2).

gobgpd (AS 4200000001, driven through durantic_agent.gobgp.policy) peers with two BIRD
pair, b2 (AS 4200000002) and b3 (AS 4200000003), on one switch. Both send 10.60.0.0/24; b3 prepends once
more and tags it 65000:100, so without policy gobgpd prefers b2.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import ESTABLISHED, GLOBAL, V4U, api, attr, ip_nlri
from durantic_agent.gobgp.policy import reconcile_policies
from durantic_agent.policy import PolicyAssignment, PolicySet, translate

from .harness import Lab, bird_sessions, run, same_sessions

pytestmark = pytest.mark.lab
T = TypeVar("T")
ME = 4200000001

BIRD_CONF = """
router id 10.255.0.{n};
log stderr all;
protocol device {{}}
protocol static s1 {{ ipv4; route 10.60.0.0/24 blackhole; {extra} }}
protocol bgp b{n} {{
  local 10.255.0.{n} as 420000000{n};
  neighbor 10.255.0.1 as 4200000001;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  ipv4 {{ import all; export filter {{
    if proto != "s1" then reject;
    {tag}
    accept;
  }}; }};
}}
"""
TAG_B3 = "bgp_path.prepend(4200000003); bgp_community.add((65000,100));"


async def until(pred: Callable[[], Awaitable[T]], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            val = await pred()
            if val:
                return val
        except Exception as e:  # not up yet
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")
        await asyncio.sleep(0.2)


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout  # rc 1 = "Network not found"


def bird_route(sock: Path, prefix: str) -> str:
    return birdc(sock, "show", "route", "all", prefix)


def sets(doc: list[dict[str, Any]]) -> list[PolicySet]:
    return [PolicySet.model_validate(s) for s in doc]


def export_set(med: int) -> dict[str, Any]:
    return {
        "name": "to-bird",
        "rules": [
            {
                "name": "keep-out",
                "match": {"prefixes": ["10.70.9.0/24"]},
                "actions": {"result": "reject"},
            },
            {
                "name": "vips",
                "match": {"prefixes": ["10.70.0.0/16 le 32"]},
                "actions": {
                    "as_prepend": {"asn": "self", "repeat": 2},
                    "communities": {"add": ["65000:200"]},
                    "med": med,
                },
            },
        ],
    }


LOCALS = (("10.70.0.10", 32), ("10.70.9.0", 24))
IMPORT_SET = {
    "name": "prefer-tagged",
    "rules": [{"name": "tagged", "match": {"communities": ["65000:100"]}, "actions": {"local_pref": 200}}],
}


async def best_from(client: GobgpClient, prefix: str) -> tuple[str, int | None]:
    req = api.ListPathRequest(
        table_type=GLOBAL,
        family=V4U,
        prefixes=[api.TableLookupPrefix(prefix=prefix, type=api.TableLookupPrefix.TYPE_EXACT)],
    )
    async for r in client.stream("ListPath", req):
        p = r.destination.paths[0]
        lp = None
        for a in p.pattrs:
            if a.WhichOneof("attr") == "local_pref":
                lp = a.local_pref.local_pref
        return p.neighbor_ip, lp
    return "", None


async def uptimes(client: GobgpClient) -> dict[str, int]:
    return {
        p.conf.neighbor_address: p.timers.state.uptime.seconds
        for p in await client.list_peers()
        if p.state.session_state == ESTABLISHED
    }


async def add_local(client: GobgpClient, prefix: str, plen: int, nh: str = "0.0.0.0", withdraw: bool = False) -> None:
    path = api.Path(
        family=V4U,
        nlri=ip_nlri(prefix, plen),
        pattrs=[
            attr.Attribute(origin=attr.OriginAttribute(origin=0)),
            attr.Attribute(next_hop=attr.NextHopAttribute(next_hop=nh)),
        ],
        is_withdraw=withdraw,
    )
    if withdraw:
        await client.call("DeletePath", api.DeletePathRequest(table_type=GLOBAL, family=V4U, path=path))
        return
    await client.call("AddPath", api.AddPathRequest(table_type=GLOBAL, path=path))


async def add_locals(client: GobgpClient) -> None:
    for prefix, plen in LOCALS:
        await add_local(client, prefix, plen)


async def test_policy_on_live_session_with_bird(lab: Lab) -> None:
    g, b2, b3 = lab.ns("pg"), lab.ns("pb2"), lab.ns("pb3")
    lab.segment("p", {g: "10.255.0.1/24", b2: "10.255.0.2/24", b3: "10.255.0.3/24"})
    _, gsock = lab.start_gobgpd("gobgpd", g)
    _, bsock = lab.start_bird("bird2", b2, BIRD_CONF.format(n=2, tag="", extra=""))
    _, b3sock = lab.start_bird("bird3", b3, BIRD_CONF.format(n=3, tag=TAG_B3, extra=""))
    client = GobgpClient(str(gsock))
    try:
        await client.call(
            "StartBgp",
            api.StartBgpRequest(
                **{
                    "global": api.Global(
                        asn=ME, router_id="10.255.0.1", listen_port=179, listen_addresses=["10.255.0.1"]
                    )
                }
            ),
        )
        for addr, asn in (("10.255.0.2", 4200000002), ("10.255.0.3", 4200000003)):
            await client.call(
                "AddPeer",
                api.AddPeerRequest(
                    peer=api.Peer(
                        conf=api.PeerConf(neighbor_address=addr, peer_asn=asn),
                        timers=api.Timers(config=api.TimersConfig(connect_retry=5, hold_time=9, keepalive_interval=3)),
                        afi_safis=[api.AfiSafi(config=api.AfiSafiConfig(family=V4U, enabled=True))],
                    )
                ),
            )
        await add_locals(client)

        async def both_up() -> bool:
            return len(await uptimes(client)) == 2

        await until(both_up, 40, "both BGP sessions Established")

        async def plain_state() -> bool:
            best = await best_from(client, "10.60.0.0/24")
            r = bird_route(bsock, "10.70.0.10/32")
            return (
                best[0] == "10.255.0.2"
                and "BGP.as_path: 4200000001\n" in r
                and "10.70.9.0/24" in birdc(bsock, "show", "route", "10.70.9.0/24")
            )

        await until(plain_state, 20, "routes without policy (best via b2, plain AS path on BIRD)")

        # --- apply import + export policy on the live session ------------------------------------
        up_before = await uptimes(client)
        since_before = {**bird_sessions(bsock), **bird_sessions(b3sock)}
        assign = PolicyAssignment(import_policies=["prefer-tagged"], export_policies=["to-bird"])
        desired = translate(sets([IMPORT_SET, export_set(50)]), assign, my_asn=ME)
        ch = await reconcile_policies(client, desired)
        assert ch.import_changed and ch.export_changed

        async def policed() -> bool:
            r = bird_route(bsock, "10.70.0.10/32")
            return (
                "BGP.as_path: 4200000001 4200000001 4200000001\n" in r
                and "BGP.med: 50\n" in r
                and re.search(r"BGP\.community: \(65000,200\)\s*\n", r) is not None
            )

        await until(policed, 15, "BIRD to see AS path x3, MED 50 and community (65000,200)")
        best = await until(lambda: _best_if(client, "10.255.0.3"), 15, "LOCAL_PREF 200 to move the best path to b3")
        assert best == ("10.255.0.3", 200)

        async def kept_out() -> bool:
            return all("10.70.9.0/24" not in birdc(x, "show", "route", "10.70.9.0/24") for x in (bsock, b3sock))

        # the soft reset OUT withdraws the local route the export policy now rejects: nothing is re-added
        await until(kept_out, 15, "the reject rule to withdraw 10.70.9.0/24 from both BIRDs")

        # --- change the export policy: takes effect, nothing is reset ------------------------------
        ch = await reconcile_policies(client, translate(sets([IMPORT_SET, export_set(60)]), assign, my_asn=ME))
        assert ch.export_changed and not ch.import_changed and ch.reset_directions == ("EXPORT",)

        async def med60() -> bool:
            return "BGP.med: 60\n" in bird_route(b3sock, "10.70.0.10/32")

        await until(med60, 15, "BIRD to see MED 60 after the change")
        noop = await reconcile_policies(client, translate(sets([IMPORT_SET, export_set(60)]), assign, my_asn=ME))
        assert not noop.changed
        assert await uptimes(client) == up_before, "a BGP session was reset by a policy change"
        assert same_sessions(since_before, {**bird_sessions(bsock), **bird_sessions(b3sock)}), "BIRD saw a session flap"
        assert len(since_before) == 2 and all(v[0] == "Established" for v in since_before.values()), since_before
    finally:
        await client.close()


async def _best_if(client: GobgpClient, neighbor: str) -> tuple[str, int | None] | None:
    best = await best_from(client, "10.60.0.0/24")
    return best if best[0] == neighbor else None
