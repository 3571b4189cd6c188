"""Policy benchmarks on real gobgpd (loopback only, no root needed).

    python -m bench.bench_policy

1. apply: a policy set with 100 rules and 1,000 prefix entries, translated and reconciled onto a fresh
   gobgpd (target <= 2 s), then a no-op reconcile.
2. re-evaluate: gobgpd B sends 10,000 routes to gobgpd A; an import policy change on A (reject all,
   then accept again) is timed from the reconcile call until A's RIB reflects it (target <= 5 s).
"""

from __future__ import annotations

import asyncio
import ipaddress
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.pb import GLOBAL, V4U, api, attr, ip_nlri
from durantic_agent.gobgp.policy import reconcile_policies
from durantic_agent.gobgp.sidecar import Sidecar, find_gobgpd
from durantic_agent.policy import PolicyAssignment, PolicySet, translate

ASN_A, ASN_B = 4200000001, 4200000002
N_ROUTES = 10_000


async def _ready(client: GobgpClient, fresh: bool) -> None:
    return None


async def start(base: Path, name: str, asn: int, rid: str, port: int, addr: str) -> Sidecar:
    sc = Sidecar(find_gobgpd(None), base / name, _ready)
    await sc.start()
    assert sc.client is not None
    g = api.Global(asn=asn, router_id=rid, listen_port=port, listen_addresses=[addr])
    await sc.client.call("StartBgp", api.StartBgpRequest(**{"global": g}))
    return sc


def big_set() -> PolicySet:
    rules = []
    for r in range(100):
        prefixes = [f"10.{r}.{i * 16}.0/20 le 32" for i in range(10)]
        rules.append(
            {
                "name": f"r{r}",
                "match": {"prefixes": prefixes, "communities": [f"65000:{r}"]},
                "actions": {"local_pref": 100 + r, "med": r, "result": "accept" if r % 2 else "continue"},
            }
        )
    return PolicySet.model_validate({"name": "big", "rules": rules})


async def bench_apply(base: Path) -> None:
    sc = await start(base, "apply", ASN_A, "192.0.2.1", -1, "127.0.0.1")
    assert sc.client is not None
    try:
        ps = big_set()
        t0 = time.perf_counter()
        desired = translate([ps], PolicyAssignment(import_policies=["big"]), my_asn=ASN_A)
        t1 = time.perf_counter()
        await reconcile_policies(sc.client, desired)
        t2 = time.perf_counter()
        ch = await reconcile_policies(sc.client, desired)
        t3 = time.perf_counter()
        n_prefix = sum(len(s.prefixes) for s in desired.sets)
        print(
            f"apply 100 rules / {n_prefix} prefix entries: translate {t1 - t0:.3f} s + reconcile {t2 - t1:.3f} s"
            f" = {t2 - t0:.3f} s (target <= 2 s); no-op reconcile {t3 - t2:.3f} s (changed={ch.changed})"
        )
    finally:
        await sc.stop()


async def table_count(client: GobgpClient) -> int:
    r = await client.call("GetTable", api.GetTableRequest(table_type=GLOBAL, family=V4U))
    return int(r.num_destination)


async def wait_count(client: GobgpClient, want: int, timeout: float) -> float:
    t0 = time.perf_counter()
    while await table_count(client) != want:
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"RIB did not reach {want} routes (now {await table_count(client)})")
        await asyncio.sleep(0.01)
    return time.perf_counter() - t0


async def bench_reevaluate(base: Path) -> None:
    a = await start(base, "a", ASN_A, "192.0.2.1", 11790, "127.0.0.1")
    b = await start(base, "b", ASN_B, "192.0.2.2", 11790, "127.0.0.2")
    assert a.client is not None and b.client is not None
    try:
        for c, addr, asn, local in (
            (a.client, "127.0.0.2", ASN_B, "127.0.0.1"),
            (b.client, "127.0.0.1", ASN_A, "127.0.0.2"),
        ):
            await c.call(
                "AddPeer",
                api.AddPeerRequest(
                    peer=api.Peer(
                        conf=api.PeerConf(neighbor_address=addr, peer_asn=asn),
                        transport=api.Transport(local_address=local, remote_port=11790),
                        timers=api.Timers(
                            config=api.TimersConfig(connect_retry=5, hold_time=30, keepalive_interval=10)
                        ),
                        afi_safis=[api.AfiSafi(config=api.AfiSafiConfig(family=V4U, enabled=True))],
                    )
                ),
            )
        base_net = int(ipaddress.IPv4Address("100.64.0.0"))
        paths = [
            api.Path(
                family=V4U,
                nlri=ip_nlri(str(ipaddress.IPv4Address(base_net + i)), 32),
                pattrs=[
                    attr.Attribute(origin=attr.OriginAttribute(origin=0)),
                    attr.Attribute(next_hop=attr.NextHopAttribute(next_hop="10.0.0.2")),
                    attr.Attribute(communities=attr.CommunitiesAttribute(communities=[(65000 << 16) | 100])),
                ],
            )
            for i in range(N_ROUTES)
        ]

        async def reqs() -> AsyncIterator[Any]:
            for i in range(0, N_ROUTES, 1000):
                yield api.AddPathStreamRequest(table_type=GLOBAL, paths=paths[i : i + 1000])

        await b.client.stub.AddPathStream(reqs())
        t0 = time.perf_counter()
        await wait_count(a.client, N_ROUTES, 60)
        print(f"session up and {N_ROUTES} routes in A's RIB after {time.perf_counter() - t0:.1f} s")

        reject = PolicySet.model_validate(
            {
                "name": "gate",
                "rules": [{"name": "tagged", "match": {"communities": ["65000:100"]}, "actions": {"result": "reject"}}],
            }
        )
        allow = PolicySet.model_validate(
            {
                "name": "gate",
                "rules": [{"name": "tagged", "match": {"communities": ["65000:100"]}, "actions": {"local_pref": 200}}],
            }
        )
        for label, ps, want in (("reject all", reject, 0), ("accept again", allow, N_ROUTES)):
            desired = translate([ps], PolicyAssignment(import_policies=["gate"]), my_asn=ASN_A)
            t0 = time.perf_counter()
            await reconcile_policies(a.client, desired)
            t1 = time.perf_counter()
            await wait_count(a.client, want, 30)
            t2 = time.perf_counter()
            print(
                f"import change '{label}' over {N_ROUTES} received routes: reconcile+soft-reset {t1 - t0:.3f} s,"
                f" RIB settled after {t2 - t0:.3f} s (target <= 5 s)"
            )
    finally:
        await b.stop()
        await a.stop()


async def amain() -> None:
    with tempfile.TemporaryDirectory(prefix="durantic-bench-policy-") as d:
        await bench_apply(Path(d))
        await bench_reevaluate(Path(d))


def main() -> None:
    asyncio.run(amain())


if __name__ == "__main__":
    main()
