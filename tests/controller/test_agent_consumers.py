"""A controller sets up each agent's consumer on request (controller/agent_consumers.py):
the filter comes from the subject's hostname and the declared labels, never from
anything else in the body; bad requests are refused and create nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from common import subjects
from common.messages import CONSUMER_REPLY_DECODER, ConsumerRequest, encode
from controller.agent_consumers import AgentConsumers
from devstack.process import ServerProcess

HOST = "web-1.example"


@pytest.fixture
async def nc(js: JetStreamContext, nats_server: ServerProcess) -> AsyncIterator[NATS]:
    """A controller's connection, once ``js`` made the streams."""
    connection = await nats.connect(nats_server.url)
    yield connection
    await connection.close()


def consumers(js: JetStreamContext) -> AgentConsumers:
    """The service for direct calls of :meth:`AgentConsumers.answer` (``run`` needs ``nc``)."""
    return AgentConsumers(NATS(), js)


async def stream_id(js: JetStreamContext) -> str:
    info = await js.stream_info(subjects.JOBS_STREAM)
    assert info.created is not None
    return info.created.isoformat()


async def test_the_filter_is_the_subjects_host_its_labels_and_all(js: JetStreamContext) -> None:
    request = ConsumerRequest(labels={"role": "web.prod"}, slots=2, ack_wait=7.0)
    reply = await consumers(js).answer(subjects.consumer_request_of(HOST), encode(request))
    assert reply.error == ""
    assert reply.created
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    assert info.config.filter_subjects == [
        subjects.JOB_ALL,
        subjects.job_for_host(HOST),
        subjects.job_for_label("role", "web"),
        subjects.job_for_label("role", "web.prod"),
    ]
    assert info.config.ack_wait == 7.0
    assert info.config.max_ack_pending == 16
    assert info.config.mem_storage
    assert info.config.deliver_policy == DeliverPolicy.NEW
    assert reply.stream_id == await stream_id(js)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        # Not the canonical spelling of "Abc": a second name for one host.
        ("corral.control.consumer.~41bc", ConsumerRequest()),
        ("corral.control.consumer.~2E", ConsumerRequest()),  # "." is no hostname
        (subjects.consumer_request_of(HOST), ConsumerRequest(labels={"role": "a..b"})),
        (subjects.consumer_request_of(HOST), ConsumerRequest(labels={"ro*le": "a"})),
        (subjects.consumer_request_of(HOST), ConsumerRequest(ack_wait=0.01)),
        (
            subjects.consumer_request_of(HOST),
            ConsumerRequest(labels={f"k{n}": "a.b.c.d" for n in range(100)}),
        ),
        (subjects.consumer_request_of(HOST), b"\xc1 not msgpack"),
    ],
)
async def test_a_bad_request_is_refused_and_creates_nothing(
    js: JetStreamContext, subject: str, body: ConsumerRequest | bytes
) -> None:
    data = body if isinstance(body, bytes) else encode(body)
    reply = await consumers(js).answer(subject, data)
    assert reply.error
    assert not reply.created
    names = [info.name for info in await js.consumers_info(subjects.JOBS_STREAM)]
    assert [name for name in names if name.startswith("agent-")] == []


async def test_created_at_the_floor_on_the_same_stream_and_kept_there_on_update(
    js: JetStreamContext,
) -> None:
    for _ in range(3):
        await js.publish(subjects.job_for_host(HOST), b"job")
    service = consumers(js)
    subject = subjects.consumer_request_of(HOST)
    floor = ConsumerRequest(stream_id=await stream_id(js), floor=2)
    reply = await service.answer(subject, encode(floor))
    assert (reply.created, reply.start) == (True, 2)
    # Labels changed: updated in place, still starting where it was created.
    relabelled = ConsumerRequest(labels={"zone": "a"}, stream_id=reply.stream_id, floor=3)
    again = await service.answer(subject, encode(relabelled))
    assert (again.created, again.start) == (False, 0)
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    assert info.config.opt_start_seq == 2
    assert subjects.job_for_label("zone", "a") in (info.config.filter_subjects or [])


async def test_a_floor_saved_on_another_stream_starts_at_the_end(js: JetStreamContext) -> None:
    await js.publish(subjects.job_for_host(HOST), b"job")
    stale = ConsumerRequest(stream_id="2001-01-01T00:00:00+00:00", floor=1)
    reply = await consumers(js).answer(subjects.consumer_request_of(HOST), encode(stale))
    assert (reply.created, reply.start) == (True, 0)
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    assert info.config.deliver_policy == DeliverPolicy.NEW


async def test_an_agent_asks_over_nats_and_one_replica_answers_in_its_inbox(
    js: JetStreamContext, nc: NATS, nats_server: ServerProcess
) -> None:
    replicas = [AgentConsumers(nc, nc.jetstream()), AgentConsumers(nc, nc.jetstream())]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(replica.run(stop)) for replica in replicas]
    agent = await nats.connect(nats_server.url, inbox_prefix=subjects.inbox_prefix(HOST))
    try:
        for replica in replicas:
            await replica.listening.wait()
        msg = await agent.request(
            subjects.consumer_request_of(HOST), encode(ConsumerRequest()), timeout=5
        )
        reply = CONSUMER_REPLY_DECODER.decode(msg.data)
        assert msg.subject.startswith(subjects.inbox_prefix(HOST) + ".")
        assert (reply.consumer, reply.created) == (subjects.agent_consumer(HOST), True)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await agent.close()
