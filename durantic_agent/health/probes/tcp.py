"""TCP probes: a fresh connection each time, closed with a reset, as HAProxy's checks do."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import struct
from typing import Any

from ..spec import TcpProbe
from .base import ready

__all__ = ["begin_connect", "connect", "finish_connect", "literal_family", "tcp", "tcp_finish"]

_NO_LINGER = struct.pack("ii", 1, 0)


@functools.lru_cache(maxsize=4096)
def literal_family(host: str) -> socket.AddressFamily | None:
    """The family of an address literal; None for a name, which is resolved on every probe."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


async def connect(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    # A bare non-blocking socket: no transport/stream objects, which matters at 1,000 probes a second.
    family = literal_family(host)
    addrs: list[tuple[socket.AddressFamily, tuple[Any, ...]]]
    if family is not None:
        addrs = [(family, (host, port))]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addrs = [(family, addr) for family, _t, _p, _c, addr in infos]
    last: OSError | None = None
    for family, addr in addrs:
        try:
            sock, connected = begin_connect(family, addr)
        except OSError as e:
            last = e
            continue
        if connected:
            return sock
        try:
            await finish_connect(loop, sock)
        except OSError as e:
            sock.close()
            last = e
        except BaseException:
            sock.close()
            raise
        else:
            return sock
    assert last is not None
    raise last


def begin_connect(family: socket.AddressFamily, addr: tuple[Any, ...]) -> tuple[socket.socket, bool]:
    """A socket connecting to `addr`, and whether it is connected already. Raises OSError (refused...)."""
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        # Close with a reset, as HAProxy's checks do: no FIN exchange and no TIME_WAIT socket per
        # probe (1,000 checks a second would keep ~60k of them around).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
        err = sock.connect_ex(addr)
        if err == errno.EINPROGRESS:
            # To a local server the handshake has completed (or been refused) within connect() itself:
            # asking costs one syscall; waiting for the loop to report it costs a loop pass, two
            # epoll_ctl calls and a wake-up.
            if _connected(sock):
                return sock, True
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                return sock, False
        if err:
            raise OSError(err, os.strerror(err))
    except BaseException:
        sock.close()
        raise
    return sock, True


async def finish_connect(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    await ready(loop, sock.fileno(), write=True)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


async def tcp(spec: TcpProbe) -> tuple[bool, str, str]:
    sock = await connect(asyncio.get_running_loop(), spec.host, spec.port)
    sock.close()
    return True, "connected", ""


async def tcp_finish(sock: socket.socket) -> tuple[bool, str, str]:
    try:
        await finish_connect(asyncio.get_running_loop(), sock)
    finally:
        sock.close()
    return True, "connected", ""
