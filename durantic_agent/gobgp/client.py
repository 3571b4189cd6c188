"""grpc.aio client for gobgpd on its unix socket.

Thin on purpose: callers get typed helpers for what the agent does often and the raw stub for the rest.
All GoBGP errors arrive as StatusCode.UNKNOWN with text only; they become SidecarRejected, and
UNAVAILABLE becomes SidecarUnavailable so the supervisor can tell "gobgpd is gone" from "gobgpd said no".
Every call has a deadline (a stopped or wedged gobgpd must never hang the agent): unary calls a total one,
server streams an idle one (the longest wait for the next message) on top of an optional total. The
best-path watch (watch.py) is a subscription that may rightly stay silent for hours: it ends when the
sidecar's watchdog kills a gobgpd that stopped answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import grpc.experimental

from ..errors import SidecarRejected, SidecarUnavailable
from .pb import SERVICE, api, rpc

__all__ = ["STREAM_IDLE", "GobgpClient", "translate_rpc_error"]

_MAX_MSG = 256 << 20  # gobgpd's own server limit; ListPath of a big table needs it


STREAM_IDLE = 10.0
"""Seconds a server stream may go without a message before the call is given up (gobgpd is hung)."""


def translate_rpc_error(exc: grpc.aio.AioRpcError | grpc.Call, what: str) -> Exception:
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return SidecarUnavailable(f"{what}: gobgpd unavailable ({exc.details()})")
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SidecarUnavailable(f"{what}: gobgpd did not answer in time")
    return SidecarRejected(f"{what}: {exc.details()}")


_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MSG),
    ("grpc.max_send_message_length", _MAX_MSG),
    # gRPC's default reconnect backoff would dominate a gobgpd restart, which is ready much sooner
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 200),
]


class GobgpClient:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._blocking: grpc.Channel | None = None
        self.channel = grpc.aio.insecure_channel(f"unix://{socket_path}", options=_OPTIONS)
        self.stub = rpc.GoBgpServiceStub(self.channel)

    def blocking_channel(self) -> grpc.Channel:
        """A blocking channel to the same gobgpd, for bulk reads in worker threads (gobgp/bulk.py)."""
        if self._blocking is None:
            # Single-threaded unary-stream: the caller's thread drives the completion queue itself instead
            # of waiting on a polling thread for each message.
            opts = [*_OPTIONS, (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)]
            self._blocking = grpc.insecure_channel(f"unix://{self.socket_path}", options=opts)
        return self._blocking

    async def close(self) -> None:
        if self._blocking is not None:
            self._blocking.close()
            self._blocking = None
        await self.channel.close()

    async def call(self, method: str, request: Any, timeout: float = 10.0) -> Any:
        try:
            return await getattr(self.stub, method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise translate_rpc_error(e, method) from None

    async def stream(
        self, method: str, request: Any, timeout: float | None = None, idle: float = STREAM_IDLE
    ) -> AsyncIterator[Any]:
        """A server stream: `timeout` bounds the whole call, `idle` each wait for the next message."""
        async for item in _read(getattr(self.stub, method)(request, timeout=timeout), method, idle):
            yield item

    async def raw_stream(
        self, method: str, request: Any, parse: Any, timeout: float | None = None, idle: float = STREAM_IDLE
    ) -> AsyncIterator[Any]:
        """A server stream whose messages `parse` turns into the caller's type (e.g. gobgp/raw.py mirrors)."""
        call = self.channel.unary_stream(
            f"{SERVICE}/{method}", request_serializer=type(request).SerializeToString, response_deserializer=parse
        )
        async for item in _read(call(request, timeout=timeout), method, idle):
            yield item

    async def get_global(self, timeout: float = 2.0) -> Any:
        resp = await self.call("GetBgp", api.GetBgpRequest(), timeout=timeout)
        return getattr(resp, "global")

    async def list_peers(self) -> list[Any]:
        return [r.peer async for r in self.stream("ListPeer", api.ListPeerRequest(enable_advertised=True))]


async def _read(call: Any, method: str, idle: float) -> AsyncIterator[Any]:
    try:
        while True:
            try:
                async with asyncio.timeout(idle):
                    item = await call.read()
            except TimeoutError:
                raise SidecarUnavailable(f"{method}: gobgpd sent nothing for {idle:g} s") from None
            if item is grpc.aio.EOF:
                return
            yield item
    except grpc.aio.AioRpcError as e:
        raise translate_rpc_error(e, method) from None
    finally:
        call.cancel()  # a consumer that stops early (or a timeout) ends the call in gobgpd now
