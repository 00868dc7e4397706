"""Committer: records, publishes and dispatched marks for many jobs; nothing lost if NATS fails."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from redis.asyncio import Redis

from common.signing import Signer, load_private, write_keypair
from controller.jobs.group_commit import Committer, Prepared
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.streams import ensure_streams
from devstack.process import ServerProcess
from tests.records import single_host_job


def prepared(target: str = "web-1.dev.local") -> Prepared:
    meta, submitted = single_host_job(target, created=time.time(), timeout=60)
    return Prepared(meta=meta, stored=meta, submitted=submitted, sealed=None)


@pytest.fixture
async def parts(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Committer, ControlStore, NATS]]:
    nc = await nats.connect(nats_server.url)
    redis = Redis.from_url(redis_db_url)
    store = JobStore(redis, retention=3600)
    control = ControlStore(redis)
    private, _ = write_keypair(tmp_path / "keys")
    signer = Signer(load_private(str(private)))
    # No retries: the test without a stream must not wait out a leader election.
    yield Committer(store, nc.jetstream(), signer, ack_timeout=5.0, retry_within=0), control, nc
    await nc.close()
    await redis.aclose()


async def test_a_commit_writes_publishes_and_marks_every_job(
    parts: tuple[Committer, ControlStore, NATS],
) -> None:
    committer, control, nc = parts
    await ensure_streams(nc.jetstream())
    jobs = [prepared() for _ in range(50)]
    assert await committer.commit(jobs) == [None] * 50
    seqs = set()
    for job in jobs:
        state = await control.dispatch_state(job.meta.id)
        assert state is not None
        assert (state.status, state.dispatched) == ("submitted", True)
        seqs.add(state.seq)
        assert not await control.is_undispatched(job.meta.id)
    assert len(seqs) == 50  # one stream message each


async def test_unacked_publishes_leave_their_records_to_the_reconciler(
    parts: tuple[Committer, ControlStore, NATS],
) -> None:
    """No stream to take the jobs: the records stay, undispatched, where the reconciler looks."""
    committer, control, _ = parts
    jobs = [prepared() for _ in range(5)]
    assert await committer.commit(jobs) == [None] * 5
    waiting = set(await control.undispatched(time.time() + 1))
    assert waiting == {job.meta.id for job in jobs}
    for job in jobs:
        state = await control.dispatch_state(job.meta.id)
        assert state is not None
        assert not state.dispatched
