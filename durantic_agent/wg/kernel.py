"""Kernel backend: link kind `wireguard` + the `wireguard` generic-netlink family (pyroute2).

pyroute2's `set()` carries one peer per message, so a convergence is a short ordered series of
messages (same order as the UAPI transaction: additions carry moves, then replacements, then
removals). Long allowed-IP lists are split like `wg` does: the first chunk replaces, later ones add.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pyroute2 import AsyncWireGuard
from pyroute2.netlink.exceptions import NetlinkError

from durantic_agent.aioutil import gc_paused
from durantic_agent.wg import _link
from durantic_agent.wg.endpoints import resolve_peers
from durantic_agent.wg.keys import public_key
from durantic_agent.wg.known import KnownPeers
from durantic_agent.wg.plan import PeerChange, plan_and_result
from durantic_agent.wg.port import DeviceState, PeerSpec, PeerState, WireGuardNoSocket, WireGuardOpError

__all__ = ["KernelBackend", "no_socket", "peer_messages"]


def no_socket(netns: str | None, exc: OSError) -> WireGuardNoSocket:
    where = f" in {netns}" if netns else ""
    return WireGuardNoSocket(f"kernel WireGuard: no netlink socket{where}: {exc}", exc.errno)


_CHUNK = 1000  # allowed IPs per netlink message, as wireguard-tools splits them


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def peer_messages(change: PeerChange) -> list[dict[str, Any]]:
    """pyroute2 peer dicts for one change (several when its allowed-IP list is long)."""
    if change.remove:
        return [{"public_key": change.public_key, "remove": True}]
    first: dict[str, Any] = {"public_key": change.public_key, "update_only": not change.create}
    if change.endpoint is not None:
        host, _, port = change.endpoint.rpartition(":")
        first["endpoint_addr"] = host.strip("[]")
        first["endpoint_port"] = int(port)
    if change.persistent_keepalive is not None:
        first["persistent_keepalive"] = change.persistent_keepalive
    if change.replace_allowed_ips:
        first["replace_allowed_ips"] = True
    ips = list(change.allowed_ips)
    first["allowed_ips"] = ips[:_CHUNK]
    out = [first]
    for start in range(_CHUNK, len(ips), _CHUNK):
        out.append({"public_key": change.public_key, "update_only": True, "allowed_ips": ips[start : start + _CHUNK]})
    return out


class KernelBackend:
    def __init__(self, prefix: str = "dur-", *, netns: str | None = None) -> None:
        self.prefix = prefix
        self.netns = netns
        self._ipr: Any = None
        self._wg: Any = None
        self._lock = asyncio.Lock()
        self.known = KnownPeers()

    async def _iproute(self) -> Any:
        if self._ipr is None:
            self._ipr = await _link.open_ipr(self.netns)
        return self._ipr

    async def _genl(self) -> Any:
        if self._wg is None:
            wg = AsyncWireGuard(netns=self.netns) if self.netns else AsyncWireGuard()
            try:
                await wg.setup_endpoint()
            except NetlinkError as exc:
                wg.close()
                raise WireGuardOpError(f"wireguard generic netlink family: {exc}", exc.code) from exc
            except OSError as exc:
                wg.close()
                raise no_socket(self.netns, exc) from exc
            self._wg = wg
        return self._wg

    async def ensure_interface(
        self, ifname: str, private_key_b64: str, listen_port: int, address: str, mtu: int = 1420
    ) -> None:
        _link.check_ifname(ifname, self.prefix)
        self.known.forget(ifname)
        async with self._lock:
            ipr = await self._iproute()
            kinds = await _link.link_kinds(ipr)
            try:
                if ifname not in kinds:
                    await ipr.link("add", ifname=ifname, kind="wireguard")
                elif kinds[ifname] != "wireguard":
                    raise WireGuardOpError(f"{ifname}: exists but is a {kinds[ifname] or 'non-wireguard'} link")
                cur = await self.device(ifname)
                if cur.public_key != public_key(private_key_b64) or cur.listen_port != listen_port:
                    wg = await self._genl()
                    await wg.set(ifname, private_key=private_key_b64, listen_port=listen_port)
            except NetlinkError as exc:
                raise WireGuardOpError(f"{ifname}: {exc}", exc.code) from exc
            await _link.configure_link(ipr, ifname, address, mtu)

    async def delete_interface(self, ifname: str) -> None:
        _link.check_ifname(ifname, self.prefix)
        self.known.forget(ifname)
        async with self._lock:
            ipr = await self._iproute()
            idx = await _link.link_index(ipr, ifname)
            if idx is not None:
                try:
                    await ipr.link("del", index=idx)
                except NetlinkError as exc:
                    raise WireGuardOpError(f"{ifname}: {exc}", exc.code) from exc

    async def interfaces(self) -> list[str]:
        kinds = await _link.link_kinds(await self._iproute())
        return sorted(n for n, k in kinds.items() if k == "wireguard" and n.startswith(self.prefix))

    async def device(self, ifname: str, allowed_ips: bool = True) -> DeviceState:
        # the kernel dumps the AllowedIPs either way; they are kept whatever allowed_ips says
        wg = await self._genl()
        pub: str | None = None
        port = 0
        peers: dict[str, dict[str, Any]] = {}
        try:
            # a big device arrives in several messages; one peer's allowed IPs may span two of them
            async for msg in await wg.info(ifname):
                if msg.get("WGDEVICE_A_PUBLIC_KEY") is not None:
                    pub_raw = _s(msg.get("WGDEVICE_A_PUBLIC_KEY"))
                    pub = pub_raw if pub_raw.strip("A=") else None
                port = int(msg.get("WGDEVICE_A_LISTEN_PORT") or port)
                for peer in msg.get("WGDEVICE_A_PEERS") or []:
                    key = _s(peer.get("WGPEER_A_PUBLIC_KEY"))
                    rec = peers.setdefault(key, {"ips": set()})
                    for attr in (
                        "WGPEER_A_ENDPOINT",
                        "WGPEER_A_LAST_HANDSHAKE_TIME",
                        "WGPEER_A_RX_BYTES",
                        "WGPEER_A_TX_BYTES",
                        "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL",
                    ):
                        if peer.get(attr) is not None:
                            rec[attr] = peer.get(attr)
                    for aip in peer.get("WGPEER_A_ALLOWEDIPS") or []:
                        if "addr" in aip:
                            rec["ips"].add(aip["addr"])
        except NetlinkError as exc:
            raise WireGuardOpError(f"{ifname}: {exc}", exc.code) from exc
        states: dict[str, PeerState] = {}
        for key, rec in peers.items():
            ep = rec.get("WGPEER_A_ENDPOINT")
            endpoint = None
            if ep is not None and ep.get("port"):
                addr = str(ep["addr"])
                endpoint = f"[{addr}]:{ep['port']}" if ":" in addr else f"{addr}:{ep['port']}"
            hs = rec.get("WGPEER_A_LAST_HANDSHAKE_TIME")
            last = hs["tv_sec"] + hs["tv_nsec"] / 1e9 if hs is not None and hs["tv_sec"] else None
            states[key] = PeerState(
                public_key=key,
                endpoint=endpoint,
                allowed_ips=frozenset(rec["ips"]),
                last_handshake=last,
                rx_bytes=int(rec.get("WGPEER_A_RX_BYTES") or 0),
                tx_bytes=int(rec.get("WGPEER_A_TX_BYTES") or 0),
                persistent_keepalive=int(rec.get("WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL") or 0),
            )
        return DeviceState(ifname=ifname, public_key=pub, listen_port=port, peers=states)

    def forget(self, ifname: str) -> None:
        self.known.forget(ifname)

    async def set_peers(self, ifname: str, peers: Mapping[str, PeerSpec]) -> None:
        wanted = await resolve_peers(peers)
        current = self.known.get(ifname)
        read_at = self.known.read_at(ifname)
        if current is None:
            read_at = self.known.clock()
            current = (await self.device(ifname)).peers
        try:
            with gc_paused():
                changes, after = plan_and_result(current, wanted)
        except ValueError as exc:
            raise WireGuardOpError(f"{ifname}: {exc}") from exc
        wg = await self._genl()
        try:
            for change in changes:
                for peer in peer_messages(change):
                    await wg.set(ifname, peer=peer)
        except NetlinkError as exc:
            self.known.forget(ifname)
            raise WireGuardOpError(f"{ifname}: {exc}", exc.code) from exc
        except BaseException:
            self.known.forget(ifname)
            raise
        self.known.put(ifname, after, read_at)

    async def close(self) -> None:
        for sock in (self._wg, self._ipr):
            if sock is not None:
                sock.close()
        self._wg = self._ipr = None
