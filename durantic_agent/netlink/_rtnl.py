"""A minimal raw rtnetlink socket for bulk route work.

pyroute2 encodes and acknowledges each message in Python, too slow for a 50,000-route FIB. This packs
messages with `struct`, sends them many per datagram without per-message acks (the kernel still reports
every failure, tagged with its sequence number) and puts an ack only on the last one as a barrier.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence

from durantic_agent.netlink._nsenter import in_netns

__all__ = ["RtnlSocket", "attr", "iter_attrs"]

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_GET_STRICT_CHK = 12
SO_RCVBUFFORCE = 33

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLMSG_ERROR = 2
NLMSG_DONE = 3

_HDR = struct.Struct("=IHHII")
_ERR = struct.Struct("=i")
_CHUNK = 32 * 1024  # well below the default socket send buffer


def attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def iter_attrs(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, data[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def _messages(buf: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each message in a datagram."""
    off = 0
    while off + _HDR.size <= len(buf):
        length, mtype, flags, seq, _ = _HDR.unpack_from(buf, off)
        if length < _HDR.size:
            return
        yield mtype, flags, seq, buf[off + _HDR.size : off + length]
        off += (length + 3) & ~3


class RtnlSocket:
    """Blocking socket; call its methods from a worker thread (asyncio.to_thread), one at a time."""

    def __init__(self, netns: str | None = None) -> None:
        kind = socket.SOCK_RAW | socket.SOCK_CLOEXEC
        self.sock = in_netns(netns, lambda: socket.socket(socket.AF_NETLINK, kind, NETLINK_ROUTE))
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)  # error replies without the request echo
        self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)  # kernel-side dump filtering
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 * 1024 * 1024)
        except PermissionError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self._seq = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        self.sock.close()

    def _next_seq(self, n: int) -> int:
        first = self._seq + 1
        self._seq = (self._seq + n) & 0x7FFFFFFF
        return first

    def _collect(self, errors: dict[int, int], first: int, block: bool, barrier: int | None) -> bool:
        """Read queued replies into errors[index] = errno; True once the barrier's ack was seen."""
        flags = 0 if block else socket.MSG_DONTWAIT
        while True:
            try:
                buf = self.sock.recv(1 << 20, flags)
            except BlockingIOError:
                return False
            for mtype, _, seq, payload in _messages(buf):
                if mtype != NLMSG_ERROR:
                    continue
                (code,) = _ERR.unpack_from(payload)
                if code:
                    errors[seq - first] = -code
                if seq == barrier:
                    return True
            flags = socket.MSG_DONTWAIT

    def request_many(self, mtype: int, flags: int, bodies: Sequence[bytes]) -> dict[int, int]:
        """Send one request per body; {index: errno} for those the kernel refused."""
        errors: dict[int, int] = {}
        if not bodies:
            return errors
        first = self._next_seq(len(bodies))
        last = len(bodies) - 1
        chunk: list[bytes] = []
        size = 0
        for i, body in enumerate(bodies):
            f = flags | NLM_F_REQUEST | (NLM_F_ACK if i == last else 0)
            msg = _HDR.pack(_HDR.size + len(body), mtype, f, (first + i) & 0x7FFFFFFF, 0) + body
            if size + len(msg) > _CHUNK:
                self.sock.send(b"".join(chunk))
                self._collect(errors, first, block=False, barrier=None)
                chunk, size = [], 0
            chunk.append(msg)
            size += len(msg)
        self.sock.send(b"".join(chunk))
        barrier = (first + last) & 0x7FFFFFFF
        while not self._collect(errors, first, block=True, barrier=barrier):
            pass
        return errors

    def dump(self, mtype: int, body: bytes) -> list[tuple[int, bytes]]:
        """(type, payload) of every message of a dump; retried when the kernel flags it interrupted."""
        for _ in range(5):
            seq = self._next_seq(1)
            self.sock.send(_HDR.pack(_HDR.size + len(body), mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
            out: list[tuple[int, bytes]] = []
            interrupted = False
            done = False
            while not done:
                buf = self.sock.recv(1 << 20)
                for rtype, rflags, rseq, payload in _messages(buf):
                    if rseq != seq:
                        continue
                    if rflags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if rtype == NLMSG_DONE:
                        done = True
                        break
                    if rtype == NLMSG_ERROR:
                        (code,) = _ERR.unpack_from(payload)
                        raise OSError(-code, f"netlink dump: {os.strerror(-code)}")
                    out.append((rtype, payload))
            if not interrupted:
                return out
        raise OSError("netlink dump kept being interrupted")
