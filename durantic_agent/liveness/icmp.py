"""ICMP echo through the mesh tunnels: one non-blocking socket per address family, shared by every member.

The member's kernel answers an echo to its mesh address, so the answer outlives a gobgpd or agent
restart on a live machine, and it crosses the member's WireGuard in both directions. An unprivileged
datagram socket (net.ipv4.ping_group_range) is tried first: the kernel then sets the identifier and
delivers only our own replies. Otherwise a raw socket (root): it sees every echo reply in the network
namespace, so replies are matched on identifier, sequence number and a per-process token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EchoSocket", "Reply", "build_request", "parse_reply"]

log = logging.getLogger("durantic.liveness")

_HDR = struct.Struct("!BBHHH")
_TOKEN = struct.Struct("!Q")
_ECHO = {4: (8, 0), 6: (128, 129)}  # family -> (request type, reply type)


@dataclass(frozen=True, slots=True)
class Reply:
    ident: int
    seq: int
    token: int


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def build_request(version: int, ident: int, seq: int, token: int) -> bytes:
    """An echo request carrying `token`. The ICMPv4 checksum is ours to set (a datagram socket rewrites
    it with the identifier); the kernel always computes ICMPv6's, which covers a pseudo-header."""
    typ = _ECHO[version][0]
    body = _TOKEN.pack(token)
    if version == 6:
        return _HDR.pack(typ, 0, 0, ident, seq) + body
    csum = _checksum(_HDR.pack(typ, 0, 0, ident, seq) + body)
    return _HDR.pack(typ, 0, csum, ident, seq) + body


def parse_reply(version: int, packet: bytes, raw: bool) -> Reply | None:
    """The echo reply in `packet` (an IPv4 raw socket delivers the IP header too), or None."""
    if raw and version == 4:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < _HDR.size + _TOKEN.size:
        return None
    typ, code, _, ident, seq = _HDR.unpack_from(packet)
    if typ != _ECHO[version][1] or code != 0:
        return None
    (token,) = _TOKEN.unpack_from(packet, _HDR.size)
    return Reply(ident, seq, token)


class EchoSocket:
    """Echo requests out, matching replies in: `on_reply(address, seq, monotonic_time)` per answer."""

    def __init__(self, version: int, on_reply: Callable[[str, int, float], None]) -> None:
        self.version = version
        self._on_reply = on_reply
        self.token = int.from_bytes(os.urandom(8), "big")
        self.raw = False
        self.last_error: str | None = None  # why the last failed send failed
        fam = socket.AF_INET if version == 4 else socket.AF_INET6
        proto = socket.IPPROTO_ICMP if version == 4 else socket.IPPROTO_ICMPV6
        try:
            self.sock = socket.socket(fam, socket.SOCK_DGRAM, proto)
        except OSError:  # not in ping_group_range: a raw socket needs CAP_NET_RAW
            self.sock = socket.socket(fam, socket.SOCK_RAW, proto)
            self.raw = True
            if version == 6:
                # only echo replies: ICMPv6 filter (RFC 3542), 256 bits, a set bit blocks the type
                blocked = bytearray(b"\xff" * 32)
                blocked[129 >> 3] &= ~(1 << (129 & 7)) & 0xFF
                self.sock.setsockopt(socket.IPPROTO_ICMPV6, 1, bytes(blocked))  # ICMP6_FILTER
        self.sock.setblocking(False)
        # a datagram socket's identifier is its local "port", set by the kernel on bind
        self.sock.bind(("0.0.0.0", 0) if version == 4 else ("::", 0))
        self.ident = self.sock.getsockname()[1] if not self.raw else int.from_bytes(os.urandom(2), "big")
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self.drain)

    def send(self, address: str, seq: int, source: str | None = None, ifindex: int = 0) -> bool:
        """One echo request; `source` and `ifindex` (IPv6) pin the source address and the outgoing link,
        as a link-local destination needs."""
        packet = build_request(self.version, self.ident, seq, self.token)
        try:
            if source is None:
                self.sock.sendto(packet, (address, 0))
            else:
                pktinfo = socket.inet_pton(socket.AF_INET6, source) + struct.pack("=I", ifindex)
                anc = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)]
                self.sock.sendmsg([packet], anc, 0, (address, 0, 0, ifindex))
            return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:  # no route yet (interface being created), unreachable: a miss, not a fault
            log.debug("echo to %s: %s", address, e)
            self.last_error = e.strerror or str(e)
            return False

    def drain(self) -> None:
        """Take in every pending reply (also called before silence is judged, so queued answers count)."""
        now = time.monotonic()
        while True:
            try:
                packet, src = self.sock.recvfrom(512)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("echo socket: %s", e)
                return
            r = parse_reply(self.version, packet, self.raw)
            if r is None or r.token != self.token or (self.raw and r.ident != self.ident):
                continue
            addr = src[0].split("%", 1)[0]
            self._on_reply(addr, r.seq, now)

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
