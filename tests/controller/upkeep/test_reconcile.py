"""Never stuck submitted: a record written by a controller that died before
publishing is republished (same message id) or failed with "not dispatched"."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import nats
import pytest

from common import subjects
from common.job import JobMeta
from common.messages import ENCODER, JobSpec, Operation
from common.signing import Signer, load_private
from controller.store.jobs import JobStore
from controller.store.keys import INDEX_CANCELLING
from controller.store.redis import connect_redis
from devstack.until import until
from tests.harness import Stack
from tests.records import single_host_job

HOST = "web-1.dev.local"
PING = Operation(type="test.ping")


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[JobStore]:
    redis = connect_redis(stack.redis_url)
    yield JobStore(redis, retention=3600)
    await redis.aclose()


async def write_only(
    store: JobStore,
    lifetime: float,
    created: float | None = None,
    operation: Operation = PING,
) -> JobMeta:
    """What a controller killed between the Redis write and the publish leaves behind."""
    now = time.time() if created is None else created
    meta, submitted = single_host_job(HOST, now, lifetime, operation)
    await store.create(meta, submitted)
    return meta


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_a_job_written_but_never_published_still_reaches_its_agent(
    stack: Stack, store: JobStore
) -> None:
    await stack.start_agent(HOST)
    meta = await write_only(store, 60)
    detail = await stack.final(meta.id, within=30)
    assert detail["status"] == "completed"
    assert detail["agent_states"][HOST]["attempt"] == 1
    assert await store.redis.hget(f"corral:{{{meta.id}}}:job", "dispatched") == b"1"


async def test_a_republish_after_a_lost_ack_runs_the_job_once(
    stack: Stack, store: JobStore
) -> None:
    """Published but never marked dispatched: the republish is deduplicated by Nats-Msg-Id."""
    await stack.start_agent(HOST)
    meta = await write_only(store, 60, operation=Operation(type="test.sleep", data={"seconds": 5}))
    private = load_private(str(stack.public_key).removesuffix(".pub") + ".key")
    spec = JobSpec(
        job_id=meta.id,
        operation=meta.operation,
        target=meta.target,
        issued_at=meta.created,
        deadline=meta.deadline,
        timeout=meta.timeout,
    )
    nc = await nats.connect(stack.nats_url)
    try:
        await nc.jetstream().publish(
            subjects.job_for_host(HOST),
            ENCODER.encode(Signer(private).sign(ENCODER.encode(spec))),
            headers={"Nats-Msg-Id": meta.id},
        )
    finally:
        await nc.close()

    async def republished() -> bool:
        return await store.redis.hget(f"corral:{{{meta.id}}}:job", "dispatched") == b"1"

    # The sleep outlasts the reconciler's grace: it republishes while the job runs.
    await until(republished, "reconciler marked it dispatched")
    assert (await stack.detail(meta.id))["status"] == "processing"
    detail = await stack.final(meta.id, within=30)
    assert detail["status"] == "completed"
    events = [e["event"] for e in (await stack.detail(meta.id))["timeline"]]
    assert events.count("acknowledged") == 1
    assert events.count("completed") == 1


async def test_an_undispatched_job_past_its_deadline_fails_not_dispatched(
    stack: Stack, store: JobStore
) -> None:
    await stack.start_agent(HOST)
    meta = await write_only(store, 1, created=time.time() - 10)
    detail = await stack.final(meta.id, within=30)
    assert detail["status"] == "failed"
    assert detail["error"] == "not dispatched"
    assert detail["agent_states"][HOST]["status"] == "timeout"
    assert detail["agent_states"][HOST]["error"] == "not dispatched"


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_a_cancelled_job_whose_publish_is_unconfirmed_stays_cancelling(
    stack: Stack, store: JobStore
) -> None:
    # Its message may still land in the stream: the reconciler must come back
    # to delete it once the sequence is known, so the job is not "told" yet.
    await stack.start_agent(HOST)
    meta = await write_only(store, 60)
    response = await stack.api.post(f"/job/{meta.id}/cancel")
    assert response.status_code == 202, response.text
    assert await store.redis.zscore(INDEX_CANCELLING, meta.id) is not None
    assert (await stack.detail(meta.id))["status"] == "cancelled"
