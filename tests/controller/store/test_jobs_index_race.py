"""The listing index files a job under the status its record ends with.

Against a real redis-server. Two finalizers disagree on a job's final
status: this controller's :func:`controller.upkeep.finalize.finalize` decides one from the
events it loaded, and, between that load and its status write, another
finalizer (the sweeper of a second controller, the collector, a cancel)
writes a different one and has not filed it in the index yet. SET_FINAL
keeps the first status written; the index must say the same, whichever
status came first and whichever index write lands first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from common.job import JOB_STATUSES, JobMeta
from common.messages import ENCODER, Event
from controller.store import scripts
from controller.store.jobs import JobStore
from controller.store.keys import job_key, status_key, terminal_key
from controller.store.redis import RedisClient, execute
from controller.store.scripts import index_command
from controller.upkeep.finalize import finalize
from tests.controller.store.test_scripts_apply_final import JOBS, NOW, create, make, new_meta

pytestmark = pytest.mark.both_redis  # the store must act alike on both


class RacingStore(JobStore):
    """A store whose next :meth:`load` lets another finalizer run right after it."""

    race: Callable[[], Awaitable[None]] | None = None

    async def load(self, job_id: str) -> tuple[JobMeta, str, list[Event]] | None:
        loaded = await super().load(job_id)
        race, self.race = self.race, None
        if race is not None:
            await race()
        return loaded


@pytest.fixture
def store(redis: RedisClient) -> RacingStore:
    return RacingStore(redis, retention=3600.0)


async def undecided_job(store: JobStore, other_kind: str) -> JobMeta:
    """A label job every agent answered, left by the apply script to finalize.

    The first agent's terminal head is in the format of an older controller,
    so the script cannot decide: the job stays ``processing`` until
    :func:`controller.upkeep.finalize.finalize` decides, as the collector does for it.
    """
    meta = new_meta("label")
    await create(store, meta)
    first, *others = JOBS["label"][0] or []
    done = make(meta.id, first, "completed", 1, 1.0)
    await store.apply({meta.id: [(done, ENCODER.encode(done))]})
    await store.redis.hset(terminal_key(meta.id), first, done.event_id)
    rest = [make(meta.id, h, other_kind, 1, 1.0) for h in others]
    outcome = (await store.apply({meta.id: [(e, ENCODER.encode(e)) for e in rest]}))[meta.id]
    assert (outcome.ready_to_finalize, outcome.status) == (True, "processing")
    return meta


async def filed_under(store: JobStore, job_id: str) -> list[str]:
    return [s for s in JOB_STATUSES if await store.redis.zscore(status_key(s), job_id) is not None]


async def record_status(store: JobStore, job_id: str) -> str:
    raw = await store.redis.hget(job_key(job_id), "status")
    assert raw is not None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@pytest.mark.parametrize(
    ("other_kind", "ours", "theirs"),
    [
        # The collector's view (everyone answered: completed) against a
        # sweeper that wrote failed first.
        ("completed", "completed", "failed"),
        # The sweeper's view (partial_failure) against a collector or a
        # second controller that wrote completed first.
        ("failed", "partial_failure", "completed"),
        # A cancel that came first.
        ("completed", "completed", "cancelled"),
    ],
)
@pytest.mark.parametrize("their_index_first", [False, True])
async def test_index_follows_the_status_the_record_kept(
    store: RacingStore, other_kind: str, ours: str, theirs: str, their_index_first: bool
) -> None:
    meta = await undecided_job(store, other_kind)
    set_final = store.redis.register_script(scripts.SET_FINAL_STATUS)

    async def their_index() -> None:
        # Their status is the first one written, so it is the record's.
        await execute(store.redis, [index_command(meta.id, theirs, meta.created)])

    async def theirs_first() -> None:
        kept = await set_final(keys=[job_key(meta.id)], args=[theirs])
        assert kept == theirs.encode()
        if their_index_first:
            await their_index()

    store.race = theirs_first
    assert await finalize(store, meta.id, NOW, deadline_passed=False) == theirs
    if not their_index_first:
        await their_index()
    assert await record_status(store, meta.id) == theirs
    assert await filed_under(store, meta.id) == [theirs]


@pytest.mark.parametrize(
    ("other_kind", "ours"), [("completed", "completed"), ("failed", "partial_failure")]
)
async def test_without_a_race_the_decided_status_is_filed(
    store: RacingStore, other_kind: str, ours: str
) -> None:
    """What this finalizer decides alone: so in the race above it really disagreed."""
    meta = await undecided_job(store, other_kind)
    assert await finalize(store, meta.id, NOW, deadline_passed=False) == ours
    assert await record_status(store, meta.id) == ours
    assert await filed_under(store, meta.id) == [ours]
    assert await store.redis.zscore("corral:{index}:open", meta.id) is None
