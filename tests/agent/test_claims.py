"""Claims of `_any` jobs against a real nats-server: one winner, whatever the race."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.js import JetStreamContext

from agent.claims import LOST, WON, Claims, ClaimUnavailable
from common import subjects
from devstack.process import ServerProcess


async def test_the_first_claim_wins_and_stays_its_agents(js: JetStreamContext) -> None:
    job_id = str(uuid.uuid4())
    first, second = Claims(js, "a.test"), Claims(js, "b.test")
    assert await first.claim(job_id) is WON
    assert await second.claim(job_id) is LOST
    # A redelivery to the winner, even from a restarted process: still its own.
    assert await Claims(js, "a.test").claim(job_id) is WON
    assert await second.claim(str(uuid.uuid4())) is WON


async def test_of_many_agents_racing_for_one_job_exactly_one_wins(js: JetStreamContext) -> None:
    job_id = str(uuid.uuid4())
    claims = [Claims(js, f"racer-{n}.test") for n in range(20)]
    results = await asyncio.gather(*(c.claim(job_id) for c in claims))
    assert results.count(WON) == 1


async def test_a_deleted_claim_is_nobodys_to_take(js: JetStreamContext) -> None:
    """Only tampering deletes a claim: the job then runs nowhere rather than twice."""
    job_id = str(uuid.uuid4())
    assert await Claims(js, "a.test").claim(job_id) is WON
    bucket = await js.key_value(subjects.CLAIMS_BUCKET)
    await bucket.delete(job_id)
    assert await Claims(js, "b.test").claim(job_id) is LOST
    assert await Claims(js, "a.test").claim(job_id) is LOST


async def test_no_bucket_is_unavailable_not_won(nats_server: ServerProcess) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        with pytest.raises(ClaimUnavailable):
            await Claims(nc.jetstream(), "a.test", within=0).claim(str(uuid.uuid4()))
    finally:
        await nc.close()


async def test_a_server_that_does_not_answer_is_unavailable(
    js: JetStreamContext, nats_server: ServerProcess
) -> None:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1)
    try:
        claims = Claims(nc.jetstream(timeout=0.5), "a.test", within=1.0)
        assert await claims.claim(str(uuid.uuid4())) is WON  # bound to the bucket
        nats_server.pause()
        try:
            with pytest.raises(ClaimUnavailable):
                await claims.claim(str(uuid.uuid4()))
        finally:
            nats_server.resume()
    finally:
        await nc.close()
