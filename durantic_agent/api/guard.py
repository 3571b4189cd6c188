"""Accept-side limits for the loopback TCP listener, which every local user can reach.

aiohttp has no connection cap and no deadline for a request head, so a local user holding slow
connections could use every descriptor of the agent. Each connection is wrapped: past the cap it is
reset at once; a request head must arrive whole within `head_timeout` of its first byte (or of the
connect); no connection lives longer than `lifetime`. Idle keep-alive connections are closed by aiohttp's
own keepalive timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

__all__ = ["ConnectionGuard"]

log = logging.getLogger("durantic.api")
_HEAD_END = re.compile(rb"\n\r?\n")
_WARN_EVERY = 10.0


class ConnectionGuard:
    def __init__(self, max_connections: int, head_timeout: float = 5.0, lifetime: float = 120.0) -> None:
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.lifetime = lifetime
        self.open: set[_Guarded] = set()
        self.refused = 0
        self.expired = 0
        self._warned_at = 0.0
        self._refused_at_warn = 0

    def protocol(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _Guarded(self, inner)

    def stats(self) -> dict[str, int]:
        return {
            "connections": len(self.open),
            "max_connections": self.max_connections,
            "refused": self.refused,
            "expired": self.expired,
        }

    def _refuse(self) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY:  # one line per interval, however hard it is hammered
            log.warning(
                "web listener at its cap of %d connections: %d refused since the last warning",
                self.max_connections,
                self.refused - self._refused_at_warn,
            )
            self._warned_at, self._refused_at_warn = now, self.refused


class _Guarded(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = inner
        self._transport: asyncio.BaseTransport | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._life_timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        g = self._guard
        if len(g.open) >= g.max_connections:
            self._inner = None
            g._refuse()
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return
        g.open.add(self)
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(g.head_timeout, self._expire)
        self._life_timer = loop.call_later(g.lifetime, self._expire)
        assert self._inner is not None
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._guard.expired += 1
            assert isinstance(self._transport, asyncio.Transport)
            self._transport.abort()  # a reset: the descriptor is free at once, no FIN_WAIT

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._head_timer is None:  # the first byte of the next request on this connection
            self._head_timer = asyncio.get_running_loop().call_later(self._guard.head_timeout, self._expire)
        buf = self._tail + data
        ends = list(_HEAD_END.finditer(buf))
        if ends:
            self._head_timer.cancel()
            self._head_timer = None
            rest = buf[ends[-1].end() :]
            if rest:  # a pipelined request has begun: its head gets its own deadline
                self._head_timer = asyncio.get_running_loop().call_later(self._guard.head_timeout, self._expire)
            self._tail = rest[-2:]
        else:
            self._tail = buf[-2:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._life_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._life_timer = None
        self._guard.open.discard(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)
            self._inner = None
