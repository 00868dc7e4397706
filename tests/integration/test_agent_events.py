"""Progress events never hold a publish permit forever (agent/events.py)."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest

from agent import events
from agent.events import EventPublisher
from common import messages, subjects
from common.messages import Started


async def test_a_progress_event_whose_puback_never_comes_gives_its_permit_back(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "PROGRESS_ACK_TIMEOUT", 0.2)
    host = f"silent-{uuid.uuid4().hex[:8]}.test"
    nc = await nats.connect(nats_url)
    try:
        # A plain subscriber and no stream: the server delivers the message,
        # nobody answers with a PubAck, and "no responders" is never sent.
        sink = await nc.subscribe(subjects.events_of(host))
        js = nc.jetstream()
        publisher = EventPublisher(js, host)
        job_id = str(uuid.uuid4())
        event = Started(
            event_id=messages.event_id(job_id, host, 1, "started"),
            job_id=job_id,
            hostname=host,
            timestamp=1.0,
        )
        await publisher.send(event)
        assert js.publish_async_pending() == 1
        await sink.next_msg(timeout=5)
        # Without the expiry this would wait forever (pytest-timeout ends it).
        await asyncio.wait_for(js.publish_async_completed(), timeout=10)
        assert js.publish_async_pending() == 0
    finally:
        await nc.close()


async def test_a_progress_event_that_cannot_be_sent_does_not_fail_the_job(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await nc.close()
    job_id = str(uuid.uuid4())
    event = Started(
        event_id=messages.event_id(job_id, "h.test", 1, "started"),
        job_id=job_id,
        hostname="h.test",
        timestamp=1.0,
    )
    await EventPublisher(js, "h.test").send(event)  # logged, not raised
