"""The collector's standing pull against a real nats-server (its own per test) and Redis.

What is proven here: an event is acked only after its write; a batch whose
controller went away before acking comes back and is stored once; two
collectors sharing the consumer store every event exactly once; the pull
request is renewed after nats-server restarts and after its consumer
vanished; the same holds through the plain callback path (a nats-py the
raw route cannot hook).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
from redis.asyncio import Redis

from bus import raw as raw_replies
from common import subjects
from common.messages import ENCODER, Acknowledged, Event, Started, event_id
from controller.collect.collector import Collector
from controller.store.jobs import AppliedBatch, JobStore
from controller.store.keys import events_key, job_key
from devstack.process import ServerProcess
from devstack.until import until
from tests.controller.collect.test_collector import NOW, completed, new_job

STREAM = "EV"
CONSUMER = "collectors"


@dataclass
class Bus:
    url: str
    connections: list[NATS] = field(default_factory=list)

    async def connect(self) -> NATS:
        nc = await nats.connect(
            self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, name="collector"
        )
        self.connections.append(nc)
        return nc

    async def consumer(self, ack_wait: float = 30.0) -> None:
        js = (await self.connect()).jetstream()
        await js.add_stream(
            StreamConfig(name=STREAM, subjects=["ev.>"], retention=RetentionPolicy.WORK_QUEUE)
        )
        config = ConsumerConfig(
            durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait
        )
        await js.add_consumer(STREAM, config)

    async def publish(self, events: list[Event]) -> None:
        js = self.connections[0].jetstream()
        for event in events:
            subject = f"ev.{subjects.encode_token(event.hostname)}"
            await js.publish(subject, ENCODER.encode(event))

    async def pending(self) -> tuple[int, int]:
        """(delivered but unacked, not yet delivered)."""
        info = await self.connections[0].jetstream().consumer_info(STREAM, CONSUMER)
        return info.num_ack_pending, info.num_pending

    async def settled(self) -> bool:
        return await self.pending() == (0, 0)


class GatedStore(JobStore):
    """A real store whose writes wait for the test to open the gate."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis, retention=3600.0)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def apply_events(
        self, batch: dict[str, list[tuple[Event, bytes]]], read_back: Iterable[str] = ()
    ) -> AppliedBatch:
        self.entered.set()
        await self.gate.wait()
        return await super().apply_events(batch, read_back)


@pytest.fixture
async def bus(nats_server: ServerProcess) -> AsyncIterator[Bus]:
    found = Bus(nats_server.url)
    try:
        yield found
    finally:
        for nc in found.connections:
            await nc.close()


@pytest.fixture
async def redis(redis_db_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_db_url) as client:
        yield client


@pytest.fixture(params=["raw", "callback"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "callback":
        monkeypatch.setattr(raw_replies, "_hookable", lambda nc: False)
    return str(request.param)


@contextlib.asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[Collector]:
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        yield collector
    finally:
        stop.set()
        await task


async def status(redis: Redis, job_id: str) -> bytes | None:
    value = await redis.hget(job_key(job_id), "status")
    assert not isinstance(value, str)  # a bytes client
    return value


def progress(job_id: str, host: str) -> list[Event]:
    def ids(kind: str) -> str:
        return event_id(job_id, host, 1, kind)

    return [
        Acknowledged(event_id=ids("acknowledged"), job_id=job_id, hostname=host, timestamp=NOW),
        Started(event_id=ids("started"), job_id=job_id, hostname=host, timestamp=NOW),
        completed(job_id, host),
    ]


async def test_an_event_is_acked_only_after_its_write(bus: Bus, redis: Redis, route: str) -> None:
    await bus.consumer()
    store = GatedStore(redis)
    job = await new_job(store, ["a.example", "b.example"])
    await bus.publish([completed(job.id, "a.example"), completed(job.id, "b.example")])
    collector = Collector(await bus.connect(), store, stream=STREAM, consumer=CONSUMER)
    async with running(collector):
        await asyncio.wait_for(store.entered.wait(), 20.0)
        # Delivered, being written, not acked: a crash now would bring them back.
        assert await bus.pending() == (2, 0)
        assert await status(redis, job.id) == b"submitted"
        store.gate.set()
        await until(lambda: collector.folded == 2, "the batch acked")
        assert await bus.pending() == (0, 0)
        assert await status(redis, job.id) == b"completed"
        # The raw route took them before nats-py counted (or parsed) anything.
        sub = collector.puller._sub
        assert sub is not None
        assert sub.delivered == 0 if route == "raw" else sub.delivered >= 2


async def test_a_batch_its_controller_never_acked_comes_back_and_is_stored_once(
    bus: Bus, redis: Redis
) -> None:
    await bus.consumer(ack_wait=1.0)
    hosts = ["a.example", "b.example", "c.example"]
    gone = GatedStore(redis)
    job = await new_job(gone, hosts)
    events = [event for host in hosts for event in progress(job.id, host)]
    await bus.publish(events)
    first_nc = await bus.connect()
    first = Collector(first_nc, gone, stream=STREAM, consumer=CONSUMER)
    async with running(first):
        await asyncio.wait_for(gone.entered.wait(), 20.0)
        # The controller loses its connection mid-batch: the write lands, the acks cannot.
        await first_nc.close()
        gone.gate.set()
        await until(lambda: not first.puller.held and not first.puller.buffer, "the write")
        assert first.folded == 0  # written, never acked
        assert await bus.pending() == (len(events), 0)
    assert await status(redis, job.id) == b"completed"

    second = Collector(
        await bus.connect(), JobStore(redis, 3600.0), stream=STREAM, consumer=CONSUMER
    )
    async with running(second):
        await until(lambda: second.folded == len(events), "the redelivered batch", within=30.0)
        await until(bus.settled, "every event acked")
    # Stored once: the submitted event and each agent's three.
    assert await redis.hlen(events_key(job.id)) == 1 + len(events)
    assert await status(redis, job.id) == b"completed"
    assert await redis.hget(job_key(job.id), "done") == b"3"


async def test_two_collectors_sharing_the_consumer_store_every_event_once(
    bus: Bus, redis: Redis
) -> None:
    await bus.consumer()
    hosts = ["a.example", "b.example"]
    store = JobStore(redis, 3600.0)
    jobs = [await new_job(store, hosts) for _ in range(100)]
    first = Collector(await bus.connect(), store, batch=16, stream=STREAM, consumer=CONSUMER)
    second = Collector(await bus.connect(), store, batch=16, stream=STREAM, consumer=CONSUMER)
    events = [event for job in jobs for host in hosts for event in progress(job.id, host)]
    async with running(first), running(second):
        await bus.publish(events)
        await until(lambda: first.folded + second.folded >= len(events), "every event folded")
        await until(bus.settled, "every event acked")
    assert first.folded + second.folded == len(events)
    assert not first.rejected
    assert not second.rejected
    for job in jobs:
        assert await status(redis, job.id) == b"completed"
        assert await redis.hlen(events_key(job.id)) == 1 + 3 * len(hosts)


async def test_the_pull_request_is_renewed_after_nats_server_restarts(
    bus: Bus, redis: Redis, nats_server: ServerProcess, route: str
) -> None:
    await bus.consumer()
    store = JobStore(redis, 3600.0)
    nc = await bus.connect()
    collector = Collector(nc, store, stream=STREAM, consumer=CONSUMER)
    async with running(collector):
        before = await new_job(store, None)
        await bus.publish([completed(before.id, "a.example")])
        await until(lambda: collector.folded == 1, "the first event")
        reply = collector.puller.reply_subject
        reconnects = nc.stats["reconnects"]
        await asyncio.to_thread(nats_server.restart)
        await until(lambda: nc.stats["reconnects"] > reconnects, "the reconnect")
        await until(lambda: collector.puller.reply_subject not in ("", reply), "a new request")
        after = await new_job(store, None)
        await until(lambda: published(bus, [completed(after.id, "a.example")]), "JetStream back")
        await until(lambda: collector.folded == 2, "the event after the restart")
    assert await status(redis, after.id) == b"completed"


async def published(bus: Bus, events: list[Event]) -> bool:
    try:
        await bus.publish(events)
    except Exception:  # noqa: BLE001 - JetStream still recovering its streams: try again
        return False
    return True


async def test_pulling_resumes_once_a_vanished_consumer_is_back(bus: Bus, redis: Redis) -> None:
    await bus.consumer()
    store = JobStore(redis, 3600.0)
    collector = Collector(await bus.connect(), store, stream=STREAM, consumer=CONSUMER)
    js = bus.connections[0].jetstream()
    async with running(collector):
        await until(lambda: collector.puller.requested > 0, "the standing request")
        await js.delete_consumer(STREAM, CONSUMER)
        # The open request ends with an error status, parsed from the raw reply.
        await until(
            lambda: collector.puller.errors > 0 or collector.puller._sub is None, "an error"
        )
        config = ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT)
        await js.add_consumer(STREAM, config)
        job = await new_job(store, None)
        await bus.publish([completed(job.id, "a.example")])
        await until(lambda: collector.folded == 1, "the event on the re-created consumer")
    assert await status(redis, job.id) == b"completed"
