"""Watchers against a real nats-server: woken by the change feed, never left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS

from controller.watch.changes import ChangeFeed
from controller.watch.watchers import Change, Final, Watchers


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def stored(statuses: dict[str, str], looked_up: list[str] | None = None) -> Watchers:
    """Watchers over ``statuses``; every operation looked up is noted in ``looked_up``."""

    async def status_of(job_id: str) -> str | None:
        return statuses.get(job_id)

    async def operation_of(job_id: str) -> str:
        if looked_up is not None:
            looked_up.append(job_id)
        return "stored.op"

    return Watchers(status_of, operation_of)


async def test_a_change_naming_the_job_final_wakes_its_waiter(nc: NATS) -> None:
    watchers = stored({"j1": "processing"})
    await watchers.subscribe(nc)
    waiting = asyncio.create_task(watchers.final("j1", 10))
    await asyncio.sleep(0)  # registered before the change is sent
    await ChangeFeed(nc).publish({"j2": "completed", "j1": "processing"})
    await ChangeFeed(nc).publish({"j1": "partial_failure"})
    assert await waiting == Final("partial_failure")
    assert watchers.waiting == {}


async def test_a_job_final_already_is_answered_at_once(nc: NATS) -> None:
    watchers = stored({"j1": "failed"})
    assert await watchers.final("j1", 10) == Final("failed")
    assert watchers.waiting == {}


async def test_a_wait_that_runs_out_or_is_cancelled_leaves_nothing(nc: NATS) -> None:
    watchers = stored({"j1": "submitted"})
    await watchers.subscribe(nc)
    assert await watchers.final("j1", 0.05) is None
    gone = asyncio.create_task(watchers.final("j1", 10))
    await asyncio.sleep(0)
    assert "j1" in watchers.waiting
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert watchers.waiting == {}


async def test_a_waiter_registered_before_its_job_exists_reads_nothing(nc: NATS) -> None:
    looked_up: list[str] = []

    async def status_of(job_id: str) -> str | None:
        looked_up.append(job_id)
        return None

    here = Watchers(status_of, stored({}).operation_of)
    feed = ChangeFeed(nc, here)
    with here.awaiting("j1") as future:
        assert feed.waited(["j1"]) == ["j1"]  # the writer reads it back from the start
        await feed.publish({"j1": "completed"}, {"j1": "test.ping"}, {"j1": b"{}"})
        assert await here.within(future, 10) == Final("completed", b"{}")
    assert here.waiting == {}
    assert looked_up == []  # a new job's stored status is never read
    with here.awaiting("j2") as future:
        assert await here.within(future, 0.01) is None  # its time ran out
    assert here.waiting == {}


async def gather(queue: asyncio.Queue[list[Change]], count: int) -> list[Change]:
    """The next ``count`` changes from a firehose queue, however they were grouped."""
    changes: list[Change] = []
    while len(changes) < count:
        changes += await asyncio.wait_for(queue.get(), 10)
    return changes


async def test_firehose_readers_get_the_changes_their_filters_pass(nc: NATS) -> None:
    looked_up: list[str] = []
    watchers = stored({}, looked_up)
    await watchers.subscribe(nc)
    async with (
        watchers.firehose() as everything,
        watchers.firehose(frozenset({"completed"})) as completed,
        watchers.firehose(operation="stored.op") as stored_op,
    ):
        feed = ChangeFeed(nc)
        # j2's operation is not in the message: looked up once, not once per reader.
        await feed.publish({"j1": "processing", "j2": "completed"}, {"j1": "node.status.get"})
        await feed.publish({"j1": "completed"}, {"j1": "node.status.get"})
        assert await gather(everything, 3) == [
            Change("j1", "processing", "node.status.get"),
            Change("j2", "completed", "stored.op"),
            Change("j1", "completed", "node.status.get"),
        ]
        assert await gather(completed, 2) == [
            Change("j2", "completed", "stored.op"),
            Change("j1", "completed", "node.status.get"),
        ]
        assert await gather(stored_op, 1) == [Change("j2", "completed", "stored.op")]
        assert stored_op.empty()  # j1's changes were not for it
    assert looked_up == ["j2"]
    assert watchers.hoses == set()


async def test_firehose_changes_gathered_before_a_flush_go_out_as_one_list() -> None:
    watchers = stored({})
    async with watchers.firehose() as everything:
        # Neither call suspends (the operations are given): the flush cannot come between.
        await watchers._pour({"j1": "processing"}, {"j1": "test.ping"})
        await watchers._pour({"j1": "completed", "j2": "failed"}, {"j1": "test.ping", "j2": "x.y"})
        changes = await asyncio.wait_for(everything.get(), 10)
    assert changes == [
        Change("j1", "processing", "test.ping"),
        Change("j1", "completed", "test.ping"),
        Change("j2", "failed", "x.y"),
    ]
    assert watchers.gathered == []


async def test_the_writers_own_watchers_are_told_directly(nc: NATS) -> None:
    here = stored({"j1": "processing"})  # not subscribed: only the direct word reaches it
    waiting = asyncio.create_task(here.final("j1", 10))
    await asyncio.sleep(0)  # registered before the change is sent
    await ChangeFeed(nc, here).publish({"j1": "completed"}, {"j1": "test.ping"})
    assert await waiting == Final("completed")


async def test_a_detail_read_back_by_the_writer_reaches_the_waiter_here_only(nc: NATS) -> None:
    here, elsewhere = stored({"j1": "processing"}), stored({"j1": "processing"})
    await elsewhere.subscribe(nc)
    waits = [asyncio.create_task(w.final("j1", 10)) for w in (here, elsewhere)]
    await asyncio.sleep(0)  # registered before the change is sent
    feed = ChangeFeed(nc, here)
    assert feed.waited(["j2", "j1"]) == ["j1"]
    assert ChangeFeed(nc).waited(["j1"]) == []  # no process of its own: nobody to hand it to

    await feed.publish({"j1": "completed"}, {"j1": "test.ping"}, {"j1": b'{"id":"j1"}'})

    assert await waits[0] == Final("completed", b'{"id":"j1"}')
    assert await waits[1] == Final("completed")  # the message carries no detail
    assert here.waited(["j1"]) == []


async def test_the_writers_own_watchers_ignore_the_echo(nc: NATS) -> None:
    here, elsewhere = stored({}), stored({})
    await here.subscribe(nc)
    await elsewhere.subscribe(nc)
    async with here.firehose() as mine, elsewhere.firehose() as theirs:
        await ChangeFeed(nc, here).publish({"j1": "completed"}, {"j1": "test.ping"})
        # Sent after j1's message on the same connection: j1's echo reaches here first.
        await ChangeFeed(nc, elsewhere).publish({"j2": "failed"}, {"j2": "test.ping"})
        assert await gather(mine, 2) == [
            Change("j1", "completed", "test.ping"),
            Change("j2", "failed", "test.ping"),
        ]
        # j2 was told there directly, most likely before j1's message came over NATS.
        assert sorted(await gather(theirs, 2)) == [
            Change("j1", "completed", "test.ping"),
            Change("j2", "failed", "test.ping"),
        ]


async def test_a_failed_lookup_here_costs_a_wake_up_never_the_writer(nc: NATS) -> None:
    async def operation_of(job_id: str) -> str:
        raise ConnectionError("Redis is down")

    here = Watchers(stored({}).status_of, operation_of)
    elsewhere = stored({})
    await elsewhere.subscribe(nc)
    async with here.firehose(), elsewhere.firehose() as theirs:
        # No operation named: the lookup here fails; publish returns, and the
        # other replicas are still told (their own lookup works).
        await ChangeFeed(nc, here).publish({"j1": "failed"})
        assert await gather(theirs, 1) == [Change("j1", "failed", "stored.op")]
