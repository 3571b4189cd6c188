"""make_wire_path (BGP wire bytes) and make_path (typed protobuf messages) give gobgpd the same path."""

from __future__ import annotations

from typing import Any

import pytest

from durantic_agent.gobgp.client import GobgpClient
from durantic_agent.gobgp.decode import decode_destination
from durantic_agent.gobgp.paths import make_path, make_wire_path
from durantic_agent.gobgp.pb import GLOBAL, V4U, api

CASES: list[dict[str, Any]] = [
    {"prefix": "10.1.2.0/24", "next_hop": None},
    {"prefix": "10.50.0.10/32", "next_hop": "192.0.2.7", "med": 10, "communities": ["65000:100", "no-export"]},
    {"prefix": "0.0.0.0/0", "next_hop": None, "large_communities": ["4200000001:1:1"], "origin": "incomplete"},
    {"prefix": "172.16.0.0/12", "next_hop": None, "communities": [f"65000:{i}" for i in range(80)]},  # > 255 B
]


async def _rib(client: GobgpClient) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    async for r in client.stream("ListPath", api.ListPathRequest(table_type=GLOBAL, family=V4U)):
        p = decode_destination(r.destination)[0]
        out[p.prefix] = (p.next_hop, p.med, p.origin, p.communities, p.large_communities)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["prefix"] for c in CASES])
async def test_wire_path_equals_typed_path(gobgpd: GobgpClient, case: dict[str, object]) -> None:
    await gobgpd.call(
        "StartBgp",
        api.StartBgpRequest(**{"global": api.Global(asn=65001, router_id="192.0.2.1", listen_port=-1)}),
    )
    await gobgpd.call("AddPath", api.AddPathRequest(table_type=GLOBAL, path=make_path(**case)))  # type: ignore[arg-type]
    via_typed = await _rib(gobgpd)
    await gobgpd.call("AddPath", api.AddPathRequest(table_type=GLOBAL, path=make_wire_path(**case)))  # type: ignore[arg-type]
    via_wire = await _rib(gobgpd)
    assert via_wire == via_typed and len(via_wire) == 1
    wd = make_wire_path(**case, withdraw=True)  # type: ignore[arg-type]
    await gobgpd.call("DeletePath", api.DeletePathRequest(table_type=GLOBAL, family=V4U, path=wd))
    assert await _rib(gobgpd) == {}
