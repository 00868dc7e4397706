"""The collector's batch: written, then acked; finished jobs final; bad messages terminated.

Against a real nats-server and redis-server: events go through a stream of
this test's own (namespaced, so the shared CORRAL_EVENTS is left alone) and
one fetched batch is handed to :meth:`Collector.handle` as the pull loop would
hand it over (subject, ack subject, payload).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

from common import subjects
from common.job import CONTROLLER, JobMeta
from common.messages import ENCODER, Completed, Event, Failed, Operation, Submitted, event_id
from controller.collect.collector import Collector
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.keys import job_key, terminal_key
from controller.store.read_cache import DetailReader
from controller.watch.changes import ChangeFeed
from controller.watch.watchers import Final, Watchers
from devstack.until import until
from tests.controller.store.test_read_cache import uncached

NOW = time.time()


@pytest.fixture
async def js(nats_url: str, namespace: str) -> AsyncIterator[tuple[NATS, JetStreamContext, str]]:
    nc = await nats.connect(nats_url)
    stream = f"T_{namespace}"
    jet = nc.jetstream()
    await jet.add_stream(
        StreamConfig(name=stream, subjects=[f"{namespace}.>"], retention=RetentionPolicy.WORK_QUEUE)
    )
    await jet.add_consumer(stream, ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT))
    try:
        yield nc, jet, stream
    finally:
        await jet.delete_stream(stream)
        await nc.close()


async def new_job(store: JobStore, hosts: list[str] | None) -> JobMeta:
    meta = JobMeta(
        id=str(uuid.uuid4()),
        operation=Operation(type="node.ping"),
        target="_any" if hosts is None else "_all",
        created=NOW,
        deadline=NOW + 3600.0,
        timeout=3600.0,
        expected=hosts,
        single=hosts is None,
    )
    submitted = Submitted(
        event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
        job_id=meta.id,
        hostname=CONTROLLER,
        timestamp=NOW,
    )
    await store.create(meta, submitted)
    return meta


def completed(job_id: str, host: str) -> Completed:
    return Completed(
        event_id=event_id(job_id, host, 1, "completed"),
        job_id=job_id,
        hostname=host,
        timestamp=NOW + 1,
        result={"pong": True, "api_token": "s3cret"},
    )


async def test_one_batch_finishes_jobs_rejects_the_bad_and_acks_the_rest(
    store: JobStore, js: tuple[NATS, JetStreamContext, str], namespace: str
) -> None:
    nc, jet, stream = js
    any_job = await new_job(store, None)
    all_job = await new_job(store, ["a.example", "b.example"])
    undecided = await new_job(store, ["a.example"])
    # A job in flight across an upgrade: its terminal hash in the old format.
    await store.redis.hset(terminal_key(undecided.id), "a.example", "old-format-id")
    await store.redis.hset(job_key(undecided.id), "done", 1)
    events: list[tuple[str, Event | bytes]] = [
        ("a.example", completed(any_job.id, "a.example")),
        ("a.example", completed(all_job.id, "a.example")),
        (
            "b.example",
            Failed(
                event_id=event_id(all_job.id, "b.example", 1, "failed"),
                job_id=all_job.id,
                hostname="b.example",
                timestamp=NOW + 1,
                error="boom",
            ),
        ),
        ("a.example", completed(undecided.id, "a.example")),
        ("a.example", completed(str(uuid.uuid4()), "a.example")),  # unknown job
        ("c.example", completed(any_job.id, "a.example")),  # another agent's subject
        ("a.example", b"not msgpack"),
    ]
    for host, event in events:
        payload = event if isinstance(event, bytes) else ENCODER.encode(event)
        await jet.publish(f"{namespace}.{subjects.encode_token(host)}", payload)
    sub = await jet.pull_subscribe_bind("c", stream=stream)
    msgs = await sub.fetch(len(events), timeout=5)
    assert len(msgs) == len(events)

    collector = Collector(nc, store, stream=stream, consumer="c")
    await collector.handle([(m.subject.encode(), m.reply, m.data) for m in msgs])

    assert await store.redis.hget(job_key(any_job.id), "status") == b"completed"
    assert await store.redis.hget(job_key(all_job.id), "status") == b"partial_failure"
    assert await store.redis.hget(job_key(undecided.id), "status") == b"completed"
    assert await store.redis.zscore("corral:{index}:status:partial_failure", all_job.id) == NOW
    assert await store.redis.zscore("corral:{index}:open", any_job.id) is None
    assert collector.finished == 3
    assert collector.folded == 5  # the four applied and the unknown job's: all acked
    assert dict(collector.rejected) == {"unknown_job": 1, "wrong_agent": 1, "malformed": 1}
    detail = await store.detail(any_job.id)
    assert detail is not None
    assert detail.result == {"pong": True, "api_token": "[REDACTED]"}
    # Every message was acked or terminated: nothing comes back.
    info = await jet.consumer_info(stream, "c")
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_a_job_waited_for_here_goes_to_its_waiter_with_its_detail(
    store: JobStore, js: tuple[NATS, JetStreamContext, str], namespace: str
) -> None:
    nc, jet, stream = js
    read_back = await new_job(store, None)
    undecided = await new_job(store, ["a.example"])  # finalized after the read: not read back
    await store.redis.hset(terminal_key(undecided.id), "a.example", "old-format-id")
    await store.redis.hset(job_key(undecided.id), "done", 1)

    async def operation_of(job_id: str) -> str:
        return "node.ping"

    watchers = Watchers(ControlStore(store.redis).status, operation_of)
    jobs = (read_back, undecided)
    waits = {job.id: asyncio.create_task(watchers.final(job.id, 10)) for job in jobs}
    await until(lambda: len(watchers.waiting) == 2, "both waiters registered")
    for job in jobs:
        await jet.publish(
            f"{namespace}.{subjects.encode_token('a.example')}",
            ENCODER.encode(completed(job.id, "a.example")),
        )
    sub = await jet.pull_subscribe_bind("c", stream=stream)
    msgs = await sub.fetch(2, timeout=5)
    reader = DetailReader(store.redis)
    feed = ChangeFeed(nc, watchers)
    collector = Collector(nc, store, stream=stream, consumer="c", feed=feed, reader=reader)

    await collector.handle([(m.subject.encode(), m.reply, m.data) for m in msgs])

    answered = await waits[read_back.id]
    assert answered is not None
    assert answered.status == "completed"
    assert answered.body == await uncached(store, read_back.id)
    assert await reader.body(read_back.id) is answered.body  # and cached for the next read
    assert await waits[undecided.id] == Final("completed")  # its waiter reads it itself


async def test_a_batch_redelivered_after_its_job_was_final_tells_its_waiters_again(
    store: JobStore, js: tuple[NATS, JetStreamContext, str], namespace: str
) -> None:
    """The first pass stored the events, then failed before it told anyone."""
    nc, jet, stream = js
    job = await new_job(store, None)
    payload = ENCODER.encode(completed(job.id, "a.example"))
    await store.apply({job.id: [(completed(job.id, "a.example"), payload)]})  # the first pass
    await jet.publish(f"{namespace}.{subjects.encode_token('a.example')}", payload)
    sub = await jet.pull_subscribe_bind("c", stream=stream)
    [msg] = await sub.fetch(1, timeout=5)

    async def operation_of(job_id: str) -> str:
        return "node.ping"

    watchers = Watchers(ControlStore(store.redis).status, operation_of)
    reader = DetailReader(store.redis)
    feed = ChangeFeed(nc, watchers)
    collector = Collector(nc, store, stream=stream, consumer="c", feed=feed, reader=reader)
    with watchers.awaiting(job.id) as future:
        await collector.handle([(msg.subject.encode(), msg.reply, msg.data)])
        assert future.done()
        assert future.result() == Final("completed", await uncached(store, job.id))
    assert collector.finished == 0  # counted by the first pass, not again


async def test_events_from_an_agent_the_job_did_not_ask_are_counted_and_acked(
    store: JobStore, js: tuple[NATS, JetStreamContext, str], namespace: str
) -> None:
    nc, jet, stream = js
    job = await new_job(store, ["a.example"])
    await jet.publish(
        f"{namespace}.{subjects.encode_token('z.example')}",
        ENCODER.encode(completed(job.id, "z.example")),
    )
    sub = await jet.pull_subscribe_bind("c", stream=stream)
    msgs = await sub.fetch(1, timeout=5)

    collector = Collector(nc, store, stream=stream, consumer="c")
    await collector.handle([(m.subject.encode(), m.reply, m.data) for m in msgs])

    assert dict(collector.rejected) == {"not_asked": 1}
    assert await store.redis.hget(job_key(job.id), "status") == b"submitted"
    await nc.flush()  # the ack is a plain publish: on the server before we ask
    info = await jet.consumer_info(stream, "c")
    assert info.num_ack_pending == 0  # acked: a rejected event is not redelivered
