"""Kernel routes owned by the agent, marked by a route protocol number (default 186, "bgp").

Only routes carrying our protocol are dumped, replaced or deleted; our routes get their own metric
(default 20) so a hand-made route to the same prefix is a different route, never overwritten.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Iterable

from durantic_agent.core.prefix import packed_address, parse_prefix
from durantic_agent.core.types import MAIN_TABLE, Route
from durantic_agent.errors import NetlinkOpError
from durantic_agent.netlink._rtnl import RtnlSocket, attr, iter_attrs

__all__ = ["PROTO_BGP", "KernelRoutes"]

PROTO_BGP = 186

RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE, RTA_VIA = 1, 4, 5, 6, 15, 18
IFLA_IFNAME = 3
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTN_UNICAST = 1
NLM_F_REPLACE, NLM_F_CREATE = 0x100, 0x400

_RTMSG = struct.Struct("=BBBBBBBBI")
_IFINFO = struct.Struct("=BxHiII")
_U32 = struct.Struct("=I")


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


class KernelRoutes:
    def __init__(
        self,
        proto: int = PROTO_BGP,
        table: int = MAIN_TABLE,
        metric: int = 20,
        netns: str | None = None,
    ) -> None:
        self.proto = proto
        self.table = table
        self.metric = metric
        self.netns = netns
        self._sock: RtnlSocket | None = None

    def _socket(self) -> RtnlSocket:
        if self._sock is None:
            self._sock = RtnlSocket(self.netns)
        return self._sock

    def _links(self, sock: RtnlSocket) -> dict[int, str]:
        out: dict[int, str] = {}
        for mtype, payload in sock.dump(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0)):
            if mtype != RTM_NEWLINK:
                continue
            index = _IFINFO.unpack_from(payload)[2]
            for kind, value in iter_attrs(payload, _IFINFO.size):
                if kind == IFLA_IFNAME:
                    out[index] = value.rstrip(b"\0").decode()
        return out

    def _table_attrs(self, table: int) -> tuple[int, bytes]:
        return (table if table < 256 else 0), attr(RTA_TABLE, _U32.pack(table))

    def _dump(self) -> dict[str, Route]:
        sock = self._socket()
        with sock.lock:
            names = self._links(sock)
            out: dict[str, Route] = {}
            rtm_table, table_attr = self._table_attrs(self.table)
            for family in (socket.AF_INET, socket.AF_INET6):
                req = _RTMSG.pack(family, 0, 0, 0, rtm_table, self.proto, 0, 0, 0) + table_attr
                for mtype, payload in sock.dump(RTM_GETROUTE, req):
                    if mtype != RTM_NEWROUTE:
                        continue
                    fam, dst_len, _, _, tbl, proto, _, _, _ = _RTMSG.unpack_from(payload)
                    if proto != self.proto:
                        continue
                    dst = oif = gw = None
                    prio = 0
                    for kind, value in iter_attrs(payload, _RTMSG.size):
                        if kind == RTA_TABLE:
                            tbl = _U32.unpack(value)[0]
                        elif kind == RTA_DST:
                            dst = socket.inet_ntop(fam, value)
                        elif kind == RTA_OIF:
                            oif = _U32.unpack(value)[0]
                        elif kind == RTA_GATEWAY:
                            gw = socket.inet_ntop(fam, value)
                        elif kind == RTA_VIA:
                            vfam = struct.unpack_from("=H", value)[0]
                            gw = socket.inet_ntop(vfam, value[2:])
                        elif kind == RTA_PRIORITY:
                            prio = _U32.unpack(value)[0]
                    if tbl != self.table or prio != self.metric:
                        continue
                    if dst is None:
                        dst = "0.0.0.0" if fam == socket.AF_INET else "::"
                    route = Route(f"{dst}/{dst_len}", names.get(oif) if oif else None, gw, tbl)
                    out[route.dst] = route
            return out

    def _encode(self, route: Route, names: dict[str, int]) -> bytes:
        net = parse_prefix(route.dst)
        family = _family(net.version)
        rtm_table, table_attr = self._table_attrs(route.table)
        scope = RT_SCOPE_UNIVERSE if route.gateway else RT_SCOPE_LINK
        body = [
            _RTMSG.pack(family, net.prefixlen, 0, 0, rtm_table, self.proto, scope, RTN_UNICAST, 0),
            table_attr,
            attr(RTA_DST, net.packed),
            attr(RTA_PRIORITY, _U32.pack(self.metric)),
        ]
        if route.dev is not None:
            body.append(attr(RTA_OIF, _U32.pack(names[route.dev])))
        if route.gateway is not None:
            gw_version, gw = packed_address(route.gateway)
            if gw_version == net.version:
                body.append(attr(RTA_GATEWAY, gw))
            else:  # e.g. an IPv4 prefix via an IPv6 next hop
                body.append(attr(RTA_VIA, struct.pack("=H", _family(gw_version)) + gw))
        return b"".join(body)

    def _replace(self, routes: list[Route]) -> None:
        sock = self._socket()
        with sock.lock:
            names = {name: idx for idx, name in self._links(sock).items()}
            bodies: list[bytes] = []
            sent: list[Route] = []
            failed: list[tuple[Route, int]] = []
            for r in routes:
                if r.dev is None and r.gateway is None:
                    failed.append((r, errno.EINVAL))
                elif r.dev is not None and r.dev not in names:
                    failed.append((r, errno.ENODEV))
                else:
                    bodies.append(self._encode(r, names))
                    sent.append(r)
            errs = sock.request_many(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, bodies)
        failed += [(sent[i], code) for i, code in sorted(errs.items())]
        if failed:
            route, code = failed[0]
            raise NetlinkOpError(
                f"{len(failed)} of {len(routes)} routes not installed; first: {route.dst} "
                f"dev {route.dev} via {route.gateway}: {errno.errorcode.get(code, code)}",
                code,
            )

    def _delete(self, dsts: list[str]) -> None:
        sock = self._socket()
        rtm_table, table_attr = self._table_attrs(self.table)
        bodies = []
        for dst in dsts:
            net = parse_prefix(dst)
            # proto and metric in the request: the kernel deletes only a route that has both
            bodies.append(
                _RTMSG.pack(_family(net.version), net.prefixlen, 0, 0, rtm_table, self.proto, RT_SCOPE_NOWHERE, 0, 0)
                + table_attr
                + attr(RTA_DST, net.packed)
                + attr(RTA_PRIORITY, _U32.pack(self.metric))
            )
        with sock.lock:
            errs = sock.request_many(RTM_DELROUTE, 0, bodies)
        # already gone (ESRCH) or its table never existed (ENOENT): the goal is met
        real = {i: c for i, c in errs.items() if c not in (errno.ESRCH, errno.ENOENT)}
        if real:
            i, code = min(real.items())
            raise NetlinkOpError(
                f"{len(real)} of {len(dsts)} routes not deleted; first: {dsts[i]}: {errno.errorcode.get(code, code)}",
                code,
            )

    async def dump(self) -> dict[str, Route]:
        """Our routes in our table, by destination."""
        try:
            return await asyncio.to_thread(self._dump)
        except OSError as exc:
            raise NetlinkOpError(f"route dump: {exc}", exc.errno) from exc

    async def replace(self, routes: Iterable[Route]) -> None:
        todo = list(routes)
        if todo:
            try:
                await asyncio.to_thread(self._replace, todo)
            except OSError as exc:
                raise NetlinkOpError(f"route replace: {exc}", exc.errno) from exc

    async def delete(self, dsts: Iterable[str]) -> None:
        todo = list(dsts)
        if todo:
            try:
                await asyncio.to_thread(self._delete, todo)
            except OSError as exc:
                raise NetlinkOpError(f"route delete: {exc}", exc.errno) from exc

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
