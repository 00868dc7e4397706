"""The swarm's garbage collector policy (bench/swarm.py): no automatic full
collections while it serves, a full collection when no job is in flight."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

from bench.swarm import collect_when_idle, young_collections_only


class Node:
    """A container the collector tracks; one that refers to itself is a cycle."""

    def __init__(self) -> None:
        self.other: object = None


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def keep_many_alive() -> list[list[int]]:
    """Enough surviving containers for CPython to want a full collection."""
    # CPython's rule: a quarter as many as the old generation held after the last one.
    return [[index] for index in range(max(100_000, len(gc.get_objects()) // 2))]


@contextlib.contextmanager
def automatic_collector() -> Iterator[None]:
    """The collector as CPython ships it, whatever the test run did to it."""
    was_enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.enable()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not was_enabled:
            gc.disable()


def test_objects_reaching_the_old_generation_start_no_full_collection() -> None:
    with automatic_collector():
        gc.collect()
        before = full_collections()
        kept = keep_many_alive()
        assert full_collections() > before  # the cost the swarm avoids
        del kept

        gc.collect()
        thresholds = gc.get_threshold()
        with young_collections_only():
            before = full_collections()
            young = gc.get_stats()[0]["collections"]
            kept = keep_many_alive()
            assert gc.get_stats()[0]["collections"] > young  # young ones still run
            assert full_collections() == before
            gc.freeze()
        del kept
        assert gc.get_threshold() == thresholds
        assert gc.get_freeze_count() == 0  # undone for whoever runs next


async def test_idle_collection_frees_old_cycles_only_when_no_job_is_in_flight() -> None:
    def cycle() -> weakref.ref[Node]:
        node = Node()
        node.other = node
        return weakref.ref(node)

    in_flight = True
    looked = asyncio.Event()

    def busy() -> bool:
        looked.set()
        return in_flight

    stop = asyncio.Event()
    was_enabled = gc.isenabled()
    gc.disable()  # only the idle collection may free the cycle
    task = asyncio.create_task(collect_when_idle(busy, stop, every=0.01))
    try:
        garbage = cycle()
        for _ in range(3):  # three looks while a job is in flight
            looked.clear()
            await looked.wait()
        assert garbage() is not None

        in_flight = False
        looked.clear()
        await looked.wait()  # the look that found nothing in flight collected
        assert garbage() is None
        assert gc.get_freeze_count() > 0  # survivors frozen: not walked again
    finally:
        stop.set()
        await task
        gc.unfreeze()
        if was_enabled:
            gc.enable()
