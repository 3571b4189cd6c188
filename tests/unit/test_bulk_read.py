"""The bulk RIB read: batch parsing of concatenated ListPath messages, and the thread-to-loop bridge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from durantic_agent.aioutil import iterate_in_thread
from durantic_agent.gobgp import raw
from durantic_agent.gobgp.decode import decode_destination
from durantic_agent.gobgp.paths import make_path
from durantic_agent.gobgp.pb import api


def _response(prefix: str, n_paths: int) -> bytes:
    dest = api.Destination(prefix=prefix)
    for i in range(n_paths):
        dest.paths.append(make_path(prefix, f"10.0.0.{i + 1}", communities=[f"65000:{i}"], med=i))
    return bytes(api.ListPathResponse(destination=dest).SerializeToString())


def test_concatenated_responses_parse_as_one_batch() -> None:
    raws = [_response(f"10.{i}.0.0/16", 1 + i % 3) for i in range(50)]
    raws.insert(10, api.ListPathResponse().SerializeToString())  # an empty message contributes nothing
    batch = list(raw.DestinationBatch.FromString(b"".join(raws)).destination)
    one_by_one = [api.ListPathResponse.FromString(r).destination for r in raws if r]
    assert [d.prefix for d in batch] == [f"10.{i}.0.0/16" for i in range(50)]
    assert [decode_destination(d) for d in batch] == [decode_destination(d) for d in one_by_one]


async def test_iterate_in_thread_yields_in_order_and_raises_errors() -> None:
    def produce() -> Iterator[int]:
        yield from range(100)
        raise ValueError("gobgpd said no")

    got = []
    with pytest.raises(ValueError, match="gobgpd said no"):
        async for x in iterate_in_thread(produce, ahead=3):
            got.append(x)
    assert got == list(range(100))


async def test_iterate_in_thread_stops_the_producer_when_the_consumer_leaves() -> None:
    closed = threading.Event()
    produced = []

    def produce() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    agen = iterate_in_thread(produce, ahead=2)
    async for x in agen:
        if x == 5:
            break
    await agen.aclose()
    assert await asyncio.to_thread(closed.wait, 5), "the producer's iterator was never closed"
    assert len(produced) < 20  # bounded: it did not run ahead to the end


def test_gc_paused_nests_and_restores() -> None:
    import gc

    from durantic_agent.aioutil import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
