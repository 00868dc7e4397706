"""An agent's own consumer against a real JetStream and a controller answering its
requests (agent/own_consumer.py, controller/agent_consumers.py): created at the
stream's end, found again by a restarted agent with its floor pinned below what
an earlier process left unacked, and created again at the floor once the broker
has forgotten it; once set up, found again without a controller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from agent.journal import Journal
from agent.own_consumer import ConsumerRefused, OwnConsumer
from common import subjects
from common.messages import ConsumerRequest
from controller.agent_consumers import AgentConsumers
from devstack.process import ServerProcess

HOST = "floor.example"


@contextlib.asynccontextmanager
async def controller(url: str) -> AsyncIterator[None]:
    """A controller's answers to consumer requests, on a connection of its own."""
    nc = await nats.connect(url)
    consumers = AgentConsumers(nc, nc.jetstream())
    stop = asyncio.Event()
    task = asyncio.create_task(consumers.run(stop))
    try:
        await consumers.listening.wait()
        yield
    finally:
        stop.set()
        await task
        await nc.close()


@contextlib.asynccontextmanager
async def agent_connection(url: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(url, inbox_prefix=subjects.inbox_prefix(HOST))
    try:
        yield nc
    finally:
        await nc.close()


def own(nc: NATS, journal: Journal) -> OwnConsumer:
    # A short ack wait: the message a "dead process" left unacked comes back soon.
    return OwnConsumer(nc, journal, HOST, ConsumerRequest(slots=4, ack_wait=1.0))


async def publish(js: JetStreamContext, count: int) -> list[int]:
    acks = [await js.publish(subjects.job_for_host(HOST), b"job") for _ in range(count)]
    return [ack.seq for ack in acks]


async def fetch(js: JetStreamContext, count: int) -> list[Msg]:
    sub = await js.pull_subscribe_bind(subjects.agent_consumer(HOST), stream=subjects.JOBS_STREAM)
    msgs = await sub.fetch(count, timeout=5)
    await sub.unsubscribe()
    return msgs


async def test_floor_survives_an_agent_restart_and_a_forgotten_consumer(
    js: JetStreamContext, nats_server: ServerProcess
) -> None:
    journal = Journal()  # one journal across "processes", as on a host
    async with controller(nats_server.url), agent_connection(nats_server.url) as nc:
        first = own(nc, journal)
        await publish(js, 2)  # before the agent existed: never delivered to it
        await first.bind()
        seqs = await publish(js, 3)
        assert first.floor.value() == seqs[0]
        msgs = await fetch(js, 3)
        assert [m.metadata.sequence.stream for m in msgs] == seqs
        for msg in msgs:
            first.floor.received(msg.metadata.sequence.stream)
        for msg in (msgs[0], msgs[2]):  # the middle one is still running when it dies
            await msg.ack_sync()
            first.floor.settled(msg.metadata.sequence.stream)
        assert first.floor.value() == seqs[1]
        first.save()

        # A new agent process: the consumer is still there, seqs[1] unacked.
        second = own(nc, journal)
        await second.bind()
        assert second.floor.pinned
        assert second.floor.value() == seqs[1]
        [again] = await fetch(js, 1)  # redelivered once its ack wait passed
        assert again.metadata.sequence.stream == seqs[1]
        await again.ack_sync()
        await second.refresh()
        assert not second.floor.pinned
        assert second.floor.value() == seqs[2] + 1
        second.save()

        # The broker forgot it (memory state): created again at the floor.
        later = await publish(js, 1)
        await js.delete_consumer(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
        third = own(nc, journal)
        await third.bind()
        info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
        assert info.config.opt_start_seq == seqs[2] + 1
        assert info.config.mem_storage
        [msg] = await fetch(js, 1)
        assert msg.metadata.sequence.stream == later[0]


async def test_a_bound_agent_rebinds_without_a_controller_until_its_consumer_is_gone(
    js: JetStreamContext, nats_server: ServerProcess
) -> None:
    async with agent_connection(nats_server.url) as nc:
        consumer = own(nc, Journal())
        with pytest.raises(nats.errors.NoRespondersError):
            await consumer.bind()  # the first bind must ask: nobody answers
        async with controller(nats_server.url):
            await consumer.bind()
        assert consumer.confirmed
        seqs = await publish(js, 1)
        await consumer.bind()  # a reconnect: found, no controller needed
        await js.delete_consumer(subjects.JOBS_STREAM, consumer.name)
        with pytest.raises(nats.errors.NoRespondersError):
            await consumer.bind()  # gone: only a controller may create it
        async with controller(nats_server.url):
            await consumer.bind()
        info = await js.consumer_info(subjects.JOBS_STREAM, consumer.name)
        assert info.config.opt_start_seq == seqs[0]  # where this agent was


async def test_a_refused_request_raises_with_the_controllers_reason(
    js: JetStreamContext, nats_server: ServerProcess
) -> None:
    async with controller(nats_server.url), agent_connection(nats_server.url) as nc:
        bad = OwnConsumer(nc, Journal(), HOST, ConsumerRequest(labels={"ro*le": "web"}))
        with pytest.raises(ConsumerRefused, match="ro\\*le"):
            await bad.bind()
        assert not bad.confirmed
