"""Link-level setup shared by both backends (pyroute2): address, MTU, link up."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from durantic_agent.core.probe import is_probe_address, probe_interface
from durantic_agent.wg.port import WireGuardOpError

__all__ = ["configure_link", "link_index", "link_kinds", "open_ipr"]

log = logging.getLogger("durantic.wg")

_IFA_F_NODAD = 0x02


async def open_ipr(netns: str | None) -> Any:
    ipr = AsyncIPRoute(netns=netns) if netns else AsyncIPRoute()
    await ipr.setup_endpoint()
    return ipr


async def link_kinds(ipr: Any) -> dict[str, str]:
    """Every link of the namespace: name -> kind ("" when the link has no kind, e.g. a TUN)."""
    out: dict[str, str] = {}
    async for link in await ipr.link("dump"):
        name = link.get("IFLA_IFNAME")
        info = link.get("IFLA_LINKINFO")
        kind = info.get("IFLA_INFO_KIND") if info is not None else None
        out[str(name)] = str(kind or "")
    return out


async def link_index(ipr: Any, ifname: str) -> int | None:
    found = await ipr.link_lookup(ifname=ifname)
    return int(found[0]) if found else None


async def configure_link(ipr: Any, ifname: str, address: str, mtu: int) -> None:
    """Exactly `address` and its direct-path probe address on the link (other IPv6 link-locals are left
    alone), the MTU, and the link up. Without IPv6 on the link the probe address is missing, logged:
    transit then has only WireGuard's keepalives to judge the direct path by."""
    want = ipaddress.ip_interface(address)
    probe = ipaddress.ip_interface(probe_interface(str(want.ip)))
    idx = await link_index(ipr, ifname)
    if idx is None:
        raise WireGuardOpError(f"{ifname}: no such link")
    try:
        (link,) = await ipr.link("get", index=idx)
        if link.get("IFLA_MTU") != mtu:
            await ipr.link("set", index=idx, mtu=mtu)
        have: set[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = set()
        async for msg in await ipr.addr("dump", index=idx):
            have.add(ipaddress.ip_interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"))
        for old in have:
            # the interface is ours (prefix), so a stray address is a leftover from an old config; of the
            # link-locals only probe addresses are ours (the kernel makes the others)
            ours = isinstance(old.ip, ipaddress.IPv6Address) and is_probe_address(old.ip)
            if old not in (want, probe) and (ours or not old.ip.is_link_local):
                await ipr.addr("del", index=idx, address=str(old.ip), prefixlen=old.network.prefixlen)
        if want not in have:
            await ipr.addr("add", index=idx, address=str(want.ip), prefixlen=want.network.prefixlen)
        if not link["flags"] & 1:  # IFF_UP
            await ipr.link("set", index=idx, state="up")
    except NetlinkError as exc:
        raise WireGuardOpError(f"{ifname}: {exc}", exc.code) from exc
    if probe not in have:
        try:
            await ipr.addr("add", index=idx, address=str(probe.ip), prefixlen=64, flags=_IFA_F_NODAD)
        except NetlinkError as exc:  # IPv6 disabled on the link, say: one thing degrades, not the mesh
            log.warning(
                "%s: no direct-path probe address %s (%s): transit judges the direct path by keepalives only",
                ifname,
                probe.ip,
                exc,
            )


def check_ifname(ifname: str, prefix: str) -> None:
    """Both backends manage only interfaces carrying the agent's name prefix (its ownership mark)."""
    if not ifname.startswith(prefix) or not 0 < len(ifname) <= 15:
        raise WireGuardOpError(f"interface name {ifname!r} must start with {prefix!r}, <= 15 chars")
