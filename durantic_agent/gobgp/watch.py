"""WatchEvent(BEST, init=True): gobgpd's best paths as a stream of changes, for the overlay FIB.

The first event carries every current best path (and is sent even for an empty table). When the best
moves to another path only the new best arrives; a withdrawal arrives only when no path is left.
Empty events (a non-best path arriving, GR stale marking) are ignored.

Only prefix, next hop and origin (local or learned) are read: 50,000 paths arrive in one burst, and
the full `decode_path` (AS path, communities, ...) was a large part of the agent's time for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from typing import Any

import grpc

from ..aioutil import gc_paused
from ..core.types import BestPath
from . import raw
from .client import GobgpClient, translate_rpc_error
from .decode import nlri_prefix
from .pb import GLOBAL, SERVICE, V4U, V6U, api, attr

__all__ = ["Backlog", "best_path", "decode_paths", "reader_held", "watch_best"]

log = logging.getLogger("durantic.gobgp")

_CACHE_MAX = 4096
# a snapshot (init) event carries the whole table: decoded with the cyclic GC paused (see aioutil.gc_paused)
_BULK = 1000
_SERVICE = SERVICE
_METHOD = _SERVICE + "/WatchEvent"
# First byte of a serialized Attribute: the tag of its oneof field (field number << 3 | length-delimited).
_NEXT_HOP_TAG = (attr.Attribute.DESCRIPTOR.fields_by_name["next_hop"].number << 3) | 2
_MP_REACH_TAG = (attr.Attribute.DESCRIPTOR.fields_by_name["mp_reach"].number << 3) | 2


def _hop(b: bytes) -> str:
    a = attr.Attribute.FromString(b)
    if a.WhichOneof("attr") == "next_hop":
        return str(a.next_hop.next_hop)
    hops = a.mp_reach.next_hops
    return str(hops[0]) if hops else ""  # [global, link-local] for IPv6: the global one routes


# next hops repeat (a few peers), so each distinct serialized attribute is parsed once
_hop_cache: dict[bytes, str] = {}


def best_path(p: Any) -> BestPath:
    """One path (raw mirror, gobgp/raw.py, or a typed `api.Path`) as the FIB needs it."""
    if not isinstance(p, raw.Path):
        p = raw.as_raw_path(p)
    prefix = nlri_prefix(p.nlri)
    next_hop = ""
    for b in p.pattrs:
        if not b or (b[0] != _NEXT_HOP_TAG and b[0] != _MP_REACH_TAG):
            continue
        hop = _hop_cache.get(b)
        if hop is None:
            if len(_hop_cache) >= _CACHE_MAX:
                _hop_cache.clear()
            hop = _hop_cache[b] = _hop(b)
        next_hop = hop
    nip = p.neighbor_ip
    return BestPath(prefix, next_hop, not nip or nip == "<nil>")


# A queued event costs about three times what one destination of a snapshot costs, so a snapshot pays
# once about a third of the table is queued; below _RESYNC_FLOOR paths reading through is cheap whatever
# the table.
_RESYNC_RATIO = 0.35
_RESYNC_FLOOR = 1000
_PROBE_PATHS = 256  # paths read before gobgpd's table size is asked for (a burst, not churn) ...
_PROBE_EVERY = 0.25  # ... and at most this often (seconds)


def decode_paths(paths: Any) -> list[tuple[BestPath, bool]]:
    """One event's paths as (best path, withdrawn); a snapshot (a whole table) with the cyclic GC paused."""
    if len(paths) > _BULK:
        with gc_paused():
            return [(best_path(p), p.is_withdraw) for p in paths]
    return [(best_path(p), p.is_withdraw) for p in paths]


def resync_pays(queued: int, table: int) -> bool:
    """Is a fresh snapshot of `table` destinations cheaper than reading `queued` stale events?"""
    return queued >= _RESYNC_FLOOR and queued >= _RESYNC_RATIO * table


_SNAPSHOT_SHARE = 20  # a reader that keeps falling behind spends at most ~1/20 of its time on snapshots


def resync_spacing(last_cost: float, min_interval: float) -> float:
    """Seconds to wait after a snapshot that took `last_cost` (subscribe to decoded) before the next one:
    20x its cost, and never more than `min_interval`, so an agent that starts with an empty table and is
    then flooded (peers sending full tables at boot) may resync at once."""
    return min(min_interval, _SNAPSHOT_SHARE * last_cost)


class Backlog:
    """Tells from the ages of arriving paths that the reader is far behind gobgpd.

    gobgpd sends one WatchEvent per path, and a reader that fell behind (a burst of 50,000 routes, a
    paused process) drains them at ~13k a second; a fresh subscription with init=True carries the whole
    table in one message, cheaper once a third of the table is queued (resync_pays). Behind = a run of
    paths older than `lag` seconds, of at least `threshold` and at least the break-even share of the
    table: a best path that moves to an old path (a backup) is old too, but among fresh ones, so
    ordinary churn resets the run; a long run of old paths is either a backlog or a mass failover,
    and for both the snapshot is the cheaper way through."""

    def __init__(self, lag: float = 2.0, threshold: int = 5000, table: int = 0) -> None:
        self.lag = lag
        self.threshold = threshold
        self.table = table  # destinations in gobgpd, as last seen
        self.run = 0

    def observe(self, ages: Iterable[float], now: float) -> bool:
        for age in ages:
            self.run = self.run + 1 if now - age > self.lag else 0
        return self.run >= self.threshold and resync_pays(self.run, self.table)


_HOLD_MAX = 10.0  # a hung stream never keeps the FIB blind for longer than this


class _Hold:
    """Bulk writes the agent is streaming into one gobgpd (see reader_held): `free` is set when there
    are none; `readers` holds each reader's list of its live call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.free = threading.Event()
        self.free.set()
        self.epoch = 0  # holds begun so far: a reader whose call ended tells a hold's cancel by it
        self.readers: list[list[Any]] = []


_holds: weakref.WeakKeyDictionary[GobgpClient, _Hold] = weakref.WeakKeyDictionary()


def _hold_for(client: GobgpClient) -> _Hold:
    return _holds.setdefault(client, _Hold())


@contextlib.contextmanager
def reader_held(client: GobgpClient) -> Iterator[None]:
    """While the agent streams a bulk AddPathStream into gobgpd, the best-path watch is unsubscribed;
    afterwards it subscribes again and starts from a snapshot (an init event, as after a backlog).

    gobgpd marshals one event per path for a watcher (and queues them for one that is not reading), which
    slows the stream itself; one snapshot afterwards costs both sides less than the events, but it carries
    the whole table: callers hold only for streams that are large next to the table."""
    h = _hold_for(client)
    with h.lock:
        h.depth += 1
        h.epoch += 1
        h.free.clear()
        for calls in h.readers:
            for call in calls:
                call.cancel()
    try:
        yield
    finally:
        with h.lock:
            h.depth -= 1
            if not h.depth:
                h.free.set()


def _table_size(get_table: Callable[..., Any]) -> int | None:
    """Destinations in gobgpd's global RIB (IPv4 + IPv6 unicast); None if gobgpd would not say."""
    try:
        return sum(
            int(get_table(api.GetTableRequest(table_type=GLOBAL, family=f), timeout=2).num_destination)
            for f in (V4U, V6U)
        )
    except grpc.RpcError:
        return None


def _unknown(changes: list[tuple[BestPath, bool]], held: Mapping[str, object]) -> int:
    """How many of `changes` are for destinations not in `held`. Not a generator expression in the reader:
    its closure cell would keep `held` until the next event, and after a snapshot that is the map the
    consumer replaced (RibWatch starts a new one), with every best path it held before."""
    return sum(1 for bp, _ in changes if bp.prefix not in held)


def _table_events(call: Iterable[bytes]) -> Iterator[tuple[list[tuple[BestPath, bool]], list[float]]]:
    """The table events of one WatchEvent call, decoded: (changes, each path's age as a Unix time; none
    for the first event, the snapshot, whose ages nobody reads).

    Neither the message nor its parse is kept while the next one is awaited: the first event is the
    whole table, and on a RIB that has gone quiet the next one may not come for hours."""
    first = True
    for msg in call:
        ev = raw.WatchEventResponse.FromString(msg)
        del msg
        if not ev.HasField("table"):
            continue
        paths = ev.table.paths
        ages = [] if first else [p.age.seconds + p.age.nanos * 1e-9 for p in paths]
        item = decode_paths(paths), ages
        first = False
        del ev, paths, ages
        yield item
        del item


def _read_best(
    channel: grpc.Channel,
    calls: list[Any],
    stop: threading.Event,
    lag: float,
    resync_after: int,
    min_interval: float,
    hold: _Hold | None = None,
    known: Callable[[], Mapping[str, object]] | None = None,
    pending: Callable[[], int] = lambda: 0,
) -> Generator[tuple[bool, list[tuple[BestPath, bool]]], None, None]:
    """The blocking reader behind watch_best: (is_init, changes) per event, resubscribing when behind.
    The live call is kept in `calls` so another thread can cancel it; while `hold` is held (see
    reader_held) it is not subscribed, and subscribes again for a snapshot once it is free.

    Behind is told two ways. A run of old paths (Backlog) covers any kind of change. With `known` (the
    consumer's destinations; `pending`: how many changes it has not taken yet), a burst of paths for
    destinations it does not hold (_PROBE_PATHS) also makes the reader ask gobgpd for its table size,
    at most every _PROBE_EVERY: the difference is what is queued for new destinations (a paused or
    starved agent while a large table arrives; the paths need not be old yet), and when a snapshot pays
    for it (resync_pays) the reader resubscribes at once instead of reading thousands of events to find
    out. Churn on known destinations (best paths moving) never probes: a probe costs gobgpd a pass over
    its table."""
    hold = hold or _Hold()
    req = api.WatchEventRequest(
        table=api.WatchEventRequest.Table(
            filters=[api.WatchEventRequest.Table.Filter(type=api.WatchEventRequest.Table.Filter.TYPE_BEST, init=True)]
        )
    )
    rpc = channel.unary_stream(_METHOD, request_serializer=api.WatchEventRequest.SerializeToString)
    get_table = channel.unary_unary(
        _SERVICE + "/GetTable",
        request_serializer=api.GetTableRequest.SerializeToString,
        response_deserializer=api.GetTableResponse.FromString,
    )
    last_sync = time.monotonic()
    spacing = min_interval  # until the first snapshot tells what one costs
    table = 0
    while not stop.is_set():
        hold.free.wait(_HOLD_MAX)  # a hold that outlasts this is read through
        epoch = hold.epoch
        first = True
        behind = Backlog(lag, resync_after, table)
        next_probe, unprobed, why = 0.0, 0, ""
        subscribed = time.monotonic()
        call = rpc(req)
        calls[:] = [call]
        if hold.epoch != epoch:
            call.cancel()  # a hold began meanwhile and may have missed this call
        try:
            for out, ages in _table_events(call):
                try:
                    if first:
                        spacing = resync_spacing(time.monotonic() - subscribed, min_interval)
                    if out or first:
                        yield first, out
                    if first:
                        behind.table = table = len({bp.prefix for bp, _ in out})
                        first = False
                        continue
                    if behind.observe(ages, time.time()):
                        if time.monotonic() - last_sync >= spacing:
                            why = f"{behind.run} old paths in a row"
                            break
                        behind.run = 0
                    if known is None:
                        continue
                    unprobed += _unknown(out, known())
                    if unprobed >= _PROBE_PATHS and (now := time.monotonic()) >= next_probe:
                        next_probe, unprobed = now + _PROBE_EVERY, 0
                        size = _table_size(get_table)
                        if size is not None:
                            behind.table = table = size
                            # what the consumer has not taken yet may hold new destinations: errs low
                            queued = size - len(known()) - pending()
                            if resync_pays(queued, size) and now - last_sync >= spacing:
                                why = f"~{queued} new destinations queued of {size}"
                                break
                finally:
                    del out, ages  # not kept while the next event is awaited (see _table_events)
            else:
                return
        except grpc.RpcError as e:
            if stop.is_set():
                return
            if hold.epoch != epoch:
                last_sync = time.monotonic()
                continue  # cancelled by reader_held
            raise translate_rpc_error(e, "WatchEvent") from None
        finally:
            call.cancel()  # gobgpd drops the watcher (and its queue) now, not when the call is collected
        log.info("best-path watch is behind gobgpd (%s): resubscribing for a snapshot", why)
        last_sync = time.monotonic()


async def watch_best(
    client: GobgpClient,
    *,
    lag: float = 2.0,
    resync_after: int = 5000,
    min_interval: float = 30.0,
    known: Callable[[], Mapping[str, object]] | None = None,
) -> AsyncIterator[tuple[bool, list[tuple[BestPath, bool]]]]:
    """Yields (is_init, [(path, withdrawn)]). An init event replaces everything known before: it comes
    first, and again when the reader resubscribes because it fell behind (see Backlog and _read_best),
    at most once per resync_spacing (20x what the last snapshot cost, at most `min_interval` seconds).
    `known` returns the destinations the consumer holds.

    gobgpd sends one event per changed path (50,000 in a burst). They are read and decoded in a thread
    on a single-threaded unary-stream channel (~70k events/s; grpc.aio managed ~10k/s), and whatever
    arrived while the consumer was busy is handed over as one batch: the consumer never works through
    a queue of stale single-path events.
    """
    loop = asyncio.get_running_loop()
    channel = client.blocking_channel()
    lock = threading.Lock()
    stop = threading.Event()
    calls: list[Any] = []
    hold = _hold_for(client)
    hold.readers.append(calls)
    ready = asyncio.Event()
    box: dict[str, Any] = {"init": False, "changes": [], "end": None, "done": False, "signalled": False}

    def signal() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            loop.call_soon_threadsafe(ready.set)

    def run() -> None:
        try:
            reader = _read_best(
                channel, calls, stop, lag, resync_after, min_interval, hold, known, lambda: len(box["changes"])
            )
            for init, changes in reader:
                with lock:
                    if init:  # a snapshot makes everything before it moot
                        box["init"], box["changes"] = True, changes
                    else:
                        box["changes"].extend(changes)
                    wake = not box["signalled"]
                    box["signalled"] = True
                if wake:
                    signal()
                del changes  # a snapshot is the whole table: not kept while the reader waits
        except BaseException as e:  # handed to the consumer, which re-raises it
            box["end"] = e
        with lock:
            box["done"] = True
        signal()

    thread = threading.Thread(target=run, name="best-path-watch", daemon=True)
    thread.start()
    try:
        while True:
            await ready.wait()
            ready.clear()
            with lock:
                init, changes, done = box["init"], box["changes"], box["done"]
                box["init"], box["changes"], box["signalled"] = False, [], False
            if init or changes:
                yield init, changes
            del changes  # nor while this waits for the next batch
            if done:
                if box["end"] is not None:
                    raise box["end"]
                return
    finally:
        stop.set()
        with contextlib.suppress(ValueError):
            hold.readers.remove(calls)
        for call in calls:
            call.cancel()
