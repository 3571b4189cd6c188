"""VIP addresses on `lo`, marked with the address protocol field (IFA_PROTO, kernel >= 5.18).

The mark is how the agent tells its own addresses from anyone else's: an unmarked address is never
removed, re-added or claimed, even when it equals a wanted VIP.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from durantic_agent.errors import NetlinkOpError

__all__ = ["PROTO_DURANTIC", "LoopbackAddrs"]

PROTO_DURANTIC = 186


def _host(vip: str) -> str:
    """'10.0.0.1' or '10.0.0.1/32' -> '10.0.0.1'; anything wider than one address is refused."""
    net = ipaddress.ip_network(vip, strict=True)
    if net.num_addresses != 1:
        raise ValueError(f"{vip!r} must be a single address (/32 or /128)")
    return str(net.network_address)


class LoopbackAddrs:
    def __init__(self, proto: int = PROTO_DURANTIC, ifname: str = "lo", netns: str | None = None) -> None:
        self.proto = proto
        self.ifname = ifname
        self.netns = netns
        self._ipr: Any = None

    async def _iproute(self) -> tuple[Any, int]:
        if self._ipr is None:
            ipr = AsyncIPRoute(netns=self.netns) if self.netns else AsyncIPRoute()
            await ipr.setup_endpoint()
            self._ipr = ipr
        found = await self._ipr.link_lookup(ifname=self.ifname)
        if not found:
            raise NetlinkOpError(f"no interface {self.ifname!r}")
        return self._ipr, int(found[0])

    async def _scan(self) -> tuple[set[str], set[str]]:
        """(ours, others): host addresses (/32, /128) on the interface, split by the mark."""
        ipr, idx = await self._iproute()
        ours: set[str] = set()
        others: set[str] = set()
        async for msg in await ipr.addr("dump", index=idx):
            addr = ipaddress.ip_address(msg.get("IFA_ADDRESS"))
            if msg["prefixlen"] != addr.max_prefixlen:
                continue
            (ours if msg.get("IFA_PROTO") == self.proto else others).add(str(addr))
        return ours, others

    async def owned(self) -> set[str]:
        return (await self._scan())[0]

    async def ensure(self, wanted: set[str]) -> None:
        """Converge the marked addresses to `wanted`; unmarked ones are left exactly as they are."""
        want = {_host(v) for v in wanted}
        ours, others = await self._scan()
        ipr, idx = await self._iproute()
        try:
            for host in sorted(ours - want):
                addr = ipaddress.ip_address(host)
                await ipr.addr("del", index=idx, address=host, prefixlen=addr.max_prefixlen)
            for host in sorted(want - ours - others):
                addr = ipaddress.ip_address(host)
                await ipr.addr("add", index=idx, address=host, prefixlen=addr.max_prefixlen, proto=self.proto)
        except NetlinkError as exc:
            raise NetlinkOpError(f"{self.ifname}: {exc}", exc.code) from exc

    async def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
