"""The streams and shared consumers as the controller creates and updates them."""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext

from common import subjects
from controller.streams import (
    CLAIM_MARGIN,
    CLAIMS_STREAM,
    DEFAULT_CLAIMS_MAX_AGE,
    MAX_JOB_CONSUMERS,
    any_consumer_config,
    claims_max_age,
    ensure_streams,
)


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


async def test_the_claims_bucket_is_created_once_and_follows_the_config(
    js: JetStreamContext,
) -> None:
    info = await js.stream_info(CLAIMS_STREAM)
    assert info.config.max_age == DEFAULT_CLAIMS_MAX_AGE
    assert info.config.max_msgs_per_subject == 1
    assert not info.config.allow_direct  # claims are read from the stream leader
    bucket = await js.key_value(subjects.CLAIMS_BUCKET)
    await bucket.update("job-1", b"a.test", last=0)
    await ensure_streams(js, claims_age=claims_max_age(30 * 24 * 3600.0, 3600.0))
    info = await js.stream_info(CLAIMS_STREAM)
    assert info.config.max_age == 30 * 24 * 3600.0 + CLAIM_MARGIN
    assert (await bucket.get("job-1")).value == b"a.test"  # an update keeps the claims


async def test_the_duplicate_window_is_set_where_the_streams_are_created(
    js: JetStreamContext,
) -> None:
    await ensure_streams(js, duplicate_window=2.0)
    for stream in (subjects.JOBS_STREAM, subjects.EVENTS_STREAM):
        assert (await js.stream_info(stream)).config.duplicate_window == 2.0
    await ensure_streams(js)
    assert (await js.stream_info(subjects.JOBS_STREAM)).config.duplicate_window == 120.0
