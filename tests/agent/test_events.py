"""Progress events: stored by the stream without a PubAck, never fatal (agent/events.py)."""

from __future__ import annotations

import uuid

import nats

from agent.events import EventPublisher
from common import messages, subjects
from common.messages import EVENT_DECODER, Started


def started(job_id: str, host: str) -> Started:
    return Started(
        event_id=messages.event_id(job_id, host, 1, "started"),
        job_id=job_id,
        hostname=host,
        timestamp=1.0,
    )


async def test_a_progress_event_is_stored_once_and_leaves_nothing_in_flight(
    nats_url: str,
) -> None:
    host = f"progress-{uuid.uuid4().hex[:8]}.test"
    stream = f"PROGRESS_{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[subjects.events_of(host)])
        publisher = EventPublisher(nc, host)
        event = started(str(uuid.uuid4()), host)
        await publisher.send_many([event])
        await publisher.send_many([event])  # a re-send: same Nats-Msg-Id, stored once
        assert js.publish_async_pending() == 0
        # The stream stores in order: once this acked marker is in, so is
        # everything published before it.
        marker = await js.publish(subjects.events_of(host), b"marker")
        assert marker.seq == 2
        stored = await js.get_msg(stream, 1)
        assert stored.data is not None
        assert EVENT_DECODER.decode(stored.data) == event
        await js.delete_stream(stream)
    finally:
        await nc.close()


async def test_a_progress_event_that_cannot_be_sent_does_not_fail_the_job(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    await nc.close()
    await EventPublisher(nc, "h.test").send_many([started(str(uuid.uuid4()), "h.test")])  # logged
