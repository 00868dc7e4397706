"""A quick job's progress rides with its terminal event; a slow job's goes first."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from agent.events import EventPublisher
from common import messages, subjects
from common.messages import EVENT_MESSAGE_DECODER, Acknowledged, Completed, Event, Started


def make(kind: type[Event], job_id: str, host: str) -> Event:
    tag = str(kind.__struct_config__.tag)
    return kind(
        event_id=messages.event_id(job_id, host, 1, tag),
        job_id=job_id,
        hostname=host,
        timestamp=1.0,
    )


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[tuple[NATS, JetStreamContext, str, str]]:
    host = f"bundle-{uuid.uuid4().hex[:8]}.test"
    stream = f"BUNDLE_{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subjects.events_of(host)])
    try:
        yield nc, js, stream, host
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def stored(js: JetStreamContext, stream: str, seq: int) -> tuple[object, str | None]:
    message = await js.get_msg(stream, seq)
    assert message.data is not None
    msg_id = (message.headers or {}).get("Nats-Msg-Id")
    return EVENT_MESSAGE_DECODER.decode(message.data), msg_id


async def test_a_job_that_ends_within_the_hold_sends_one_message(
    bus: tuple[NATS, JetStreamContext, str, str],
) -> None:
    nc, js, stream, host = bus
    job = str(uuid.uuid4())
    publisher = EventPublisher(nc, host, hold=60.0)
    progress = [make(Acknowledged, job, host), make(Started, job, host)]
    terminal = make(Completed, job, host)
    publisher.hold(progress)
    assert await publisher.store(terminal)
    assert (await js.stream_info(stream)).state.messages == 1
    assert await stored(js, stream, 1) == ([*progress, terminal], terminal.event_id)
    assert publisher.take(job) == []  # nothing left held, no timer left to fire


async def test_a_job_that_outlasts_the_hold_sends_its_progress_first(
    bus: tuple[NATS, JetStreamContext, str, str],
) -> None:
    nc, js, stream, host = bus
    job = str(uuid.uuid4())
    publisher = EventPublisher(nc, host, hold=0.01)
    progress = [make(Acknowledged, job, host), make(Started, job, host)]
    watch = await nc.subscribe(subjects.events_of(host))
    publisher.hold(progress)
    await watch.next_msg(timeout=10)  # the hold ended and the progress went out alone
    await watch.unsubscribe()
    terminal = make(Completed, job, host)
    assert await publisher.store(terminal)
    assert await stored(js, stream, 1) == (progress, progress[-1].event_id)
    assert await stored(js, stream, 2) == (terminal, terminal.event_id)
