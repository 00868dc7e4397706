"""The streams and shared consumers as the controller creates and updates them."""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext

from common import subjects
from controller.streams import MAX_JOB_CONSUMERS, any_consumer_config, ensure_streams


async def any_max_waiting(js: JetStreamContext) -> int | None:
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    waiting: int | None = info.config.max_waiting
    return waiting


async def test_the_shared_consumer_has_a_waiting_request_slot_per_possible_agent(
    js: JetStreamContext,
) -> None:
    assert await any_max_waiting(js) == MAX_JOB_CONSUMERS
    await ensure_streams(js)  # idempotent
    assert await any_max_waiting(js) == MAX_JOB_CONSUMERS


async def test_a_shared_consumer_from_an_earlier_version_keeps_its_max_waiting(
    js: JetStreamContext,
) -> None:
    """The server refuses to change max_waiting: the controller must still start."""
    await js.delete_consumer(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    earlier = dataclasses.replace(any_consumer_config(), max_waiting=10_000)
    await js.add_consumer(subjects.JOBS_STREAM, earlier)
    await ensure_streams(js)
    assert await any_max_waiting(js) == 10_000
