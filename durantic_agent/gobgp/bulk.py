"""Bulk ListPath for whole-table listings, read on a blocking gRPC channel in a worker thread.

A 100k-route RIB arrives as 100k ListPath messages. Through grpc.aio each one costs an event-loop round
trip and a protobuf parse, which made `durantic rib --json` much slower than the Go `gobgp` CLI on the
same table. Here the stream is read as raw bytes and parsed 1,000 messages at a time (raw.DestinationBatch:
one C-level parse for all of them, attributes left serialized for decode.py's cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc

from ..errors import SidecarUnavailable
from . import raw
from .client import STREAM_IDLE, translate_rpc_error
from .pb import GLOBAL, SERVICE, V4U, V6U, api

__all__ = ["families_for", "list_destinations", "list_path_request"]

_METHOD = SERVICE + "/ListPath"


def families_for(prefix: str | None) -> list[Any]:
    """The unicast families a listing of `prefix` (None: everything) reads."""
    return [f for f in (V4U, V6U) if not prefix or (":" in prefix) == (f is V6U)]


def list_path_request(family: Any, prefixes: Any = (), kind: int = 0, sort: bool = False) -> Any:
    """ListPath of the global table for `family`; `prefixes` looked up exactly, or by `kind`
    (api.TableLookupPrefix.TYPE_LONGER / TYPE_SHORTER)."""
    req = api.ListPathRequest(table_type=GLOBAL, family=family)
    if sort:
        req.sort_type = api.ListPathRequest.SORT_TYPE_PREFIX
    for p in prefixes:
        req.prefixes.append(api.TableLookupPrefix(prefix=p, type=kind))
    return req


def list_destinations(
    channel: grpc.Channel, family: Any, prefix: str | None = None, batch: int = 1000, longer: bool = False
) -> Iterator[list[Any]]:
    """ListPath (global table, sorted by prefix) as lists of up to `batch` raw Destinations (gobgp/raw.py);
    with `longer`, those inside `prefix` rather than `prefix` alone.

    Blocking: call it from a worker thread. Closing the iterator early cancels the RPC.
    """
    kind = api.TableLookupPrefix.TYPE_LONGER if longer else api.TableLookupPrefix.TYPE_EXACT
    req = list_path_request(family, [prefix] if prefix else (), kind=kind, sort=True)
    rpc = channel.unary_stream(_METHOD, request_serializer=api.ListPathRequest.SerializeToString)
    call = rpc(req)  # no response_deserializer: each message arrives as its serialized bytes
    buf: list[bytes] = []
    guard = _IdleGuard(call, STREAM_IDLE)
    try:
        for b in call:
            guard.last = time.monotonic()
            buf.append(b)
            if len(buf) >= batch:
                guard.last = None  # the consumer's time is not gobgpd's silence
                yield list(raw.DestinationBatch.FromString(b"".join(buf)).destination)
                guard.last, buf = time.monotonic(), []
        if buf:
            guard.last = None
            yield list(raw.DestinationBatch.FromString(b"".join(buf)).destination)
    except grpc.RpcError as e:
        if guard.fired:
            raise SidecarUnavailable(f"ListPath: gobgpd sent nothing for {STREAM_IDLE:g} s") from None
        raise translate_rpc_error(e, "ListPath") from None
    finally:
        guard.done.set()
        call.cancel()


class _IdleGuard:
    """Cancels a blocking stream that has gone `idle` seconds without a message (its idle deadline)."""

    def __init__(self, call: Any, idle: float) -> None:
        self.last: float | None = time.monotonic()  # None while the consumer holds a batch
        self.fired = False
        self.done = threading.Event()
        self._call, self._idle = call, idle
        threading.Thread(target=self._run, name="listpath-idle", daemon=True).start()

    def _run(self) -> None:
        while not self.done.wait(self._idle / 4):
            last = self.last
            if last is not None and time.monotonic() - last > self._idle:
                self.fired = True
                self._call.cancel()
                return
