"""The cached job detail is byte for byte the uncached one, and never outlives its state.

Against a real redis-server: jobs are written with the store's own write
path (create, apply, finalize, cancel, delete), and every cached body is
compared with the uncached render the API used to return.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.exceptions

from common.detail import DETAIL_ENCODER
from common.fold import fold_all
from common.job import CONTROLLER, JobMeta
from common.messages import (
    ENCODER,
    Acknowledged,
    Completed,
    Event,
    Operation,
    Started,
    Submitted,
    event_id,
)
from controller.jobs.cancel import cancel_events
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.keys import job_key
from controller.store.read_cache import DetailReader
from controller.store.redis import RedisClient
from controller.upkeep.finalize import finalize

pytestmark = pytest.mark.both_redis  # the store must act alike on both

# Keys expire at creation + retention: the jobs must be recent.
NOW = time.time()


def new_meta(hosts: list[str], job_id: str | None = None, created: float = NOW) -> JobMeta:
    return JobMeta(
        id=job_id or str(uuid.uuid4()),
        operation=Operation(type="node.ping", data={"n": 1}),
        target="_all",
        created=created,
        deadline=created + 3600.0,
        timeout=3600.0,
        expected=hosts,
        single=False,
    )


async def create(store: JobStore, meta: JobMeta) -> None:
    submitted = Submitted(
        event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
        job_id=meta.id,
        hostname=CONTROLLER,
        timestamp=meta.created,
        message=f"job submitted for {meta.target}",
    )
    await store.create(meta, submitted)


def answer(job_id: str, host: str, ts: float) -> list[Event]:
    def eid(kind: str) -> str:
        return event_id(job_id, host, 1, kind)

    return [
        Acknowledged(event_id=eid("acknowledged"), job_id=job_id, hostname=host, timestamp=ts),
        Started(event_id=eid("started"), job_id=job_id, hostname=host, timestamp=ts + 0.1),
        Completed(
            event_id=eid("completed"),
            job_id=job_id,
            hostname=host,
            timestamp=ts + 0.2,
            result={"pong": host},
            duration=0.2,
        ),
    ]


async def apply(store: JobStore, job_id: str, events: list[Event]) -> None:
    await store.apply({job_id: [(e, ENCODER.encode(e)) for e in events]})


async def uncached(store: JobStore, job_id: str) -> bytes | None:
    """What ``GET /job/{id}`` returned before the cache: encode(render(fold(load)))."""
    detail = await store.detail(job_id)
    return None if detail is None else DETAIL_ENCODER.encode(detail)


async def test_cached_body_is_the_uncached_body_and_is_reused(store: JobStore) -> None:
    hosts = [f"web-{i}.example.org" for i in range(5)]
    meta = new_meta(hosts)
    await create(store, meta)
    for index, host in enumerate(hosts[:3]):
        await apply(store, meta.id, answer(meta.id, host, NOW + index))
    reader = DetailReader(store.redis)

    first = await reader.body(meta.id)
    second = await reader.body(meta.id)

    assert first == await uncached(store, meta.id)
    assert second is first  # the stored bytes, not a re-render
    assert (reader.hits, reader.misses) == (1, 1)


async def test_a_new_event_is_seen_at_once(store: JobStore) -> None:
    meta = new_meta(["a.example", "b.example"])
    await create(store, meta)
    reader = DetailReader(store.redis)
    before = await reader.body(meta.id)

    await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1)[:1])
    after = await reader.body(meta.id)

    assert after != before
    assert after == await uncached(store, meta.id)
    assert b'"acknowledged"' in (after or b"")
    # A redelivered copy of a stored event changes nothing: still a hit.
    await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1)[:1])
    assert await reader.body(meta.id) is after


async def test_a_changed_body_is_read_at_once_and_cached(store: JobStore) -> None:
    meta = new_meta(["a.example"])
    await create(store, meta)
    reader = DetailReader(store.redis)
    await reader.body(meta.id)
    await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1))

    changed = await reader.changed_body(meta.id)

    assert changed == await uncached(store, meta.id)
    assert b'"completed"' in (changed or b"")
    assert await reader.body(meta.id) is changed  # cached under its token
    assert await reader.changed_body(str(uuid.uuid4())) is None


async def test_a_job_read_back_with_its_events_is_its_detail_and_is_cached(
    store: JobStore,
) -> None:
    meta = new_meta(["a.example"])
    await create(store, meta)
    reader = DetailReader(store.redis)
    events = answer(meta.id, "a.example", NOW + 1)
    gone = str(uuid.uuid4())
    batch = {meta.id: [(e, ENCODER.encode(e)) for e in events]}

    applied = await store.apply_events(batch, read_back=[gone, meta.id])

    assert list(applied.snapshots) == [meta.id]  # only the batch's own jobs are read
    found = reader.from_snapshot(meta.id, applied.snapshots[meta.id])
    assert found is not None
    status, body = found
    assert status == "completed"
    assert body == await uncached(store, meta.id)
    assert await reader.body(meta.id) is body  # cached under its token
    assert reader.from_snapshot(gone, [None, None, None, []]) is None


async def test_a_job_its_batch_leaves_unfinished_is_not_read_back(store: JobStore) -> None:
    meta = new_meta(["a.example", "b.example"])
    await create(store, meta)
    events = answer(meta.id, "a.example", NOW + 1)  # one of its two agents
    batch = {meta.id: [(e, ENCODER.encode(e)) for e in events]}

    applied = await store.apply_events(batch, read_back=[meta.id])

    assert applied.outcomes[meta.id].status == "processing"
    assert applied.snapshots == {}  # its events are read once, when it is final


async def test_a_status_change_alone_is_seen(store: JobStore) -> None:
    meta = new_meta(["a.example", "b.example"])
    await create(store, meta)
    await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1))
    reader = DetailReader(store.redis)
    before = await reader.body(meta.id)
    assert b'"status":"processing"' in (before or b"")

    # However the write path moves the status (finalize, cancel, a sweeper),
    # a new status with the same events must render anew.
    await store.redis.hset(job_key(meta.id), "status", "partial_failure")
    after = await reader.body(meta.id)

    assert b'"status":"partial_failure"' in (after or b"")
    assert after == await uncached(store, meta.id)


async def test_cancel_and_timeouts_are_seen(store: JobStore) -> None:
    hosts = ["a.example", "b.example", "c.example"]
    cancelled, timed_out = new_meta(hosts), new_meta(hosts)
    reader = DetailReader(store.redis)
    for meta in (cancelled, timed_out):
        await create(store, meta)
        await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1))
        await reader.body(meta.id)

    loaded = await store.load(cancelled.id)
    assert loaded is not None
    events = cancel_events(cancelled, fold_all(loaded[2]), NOW + 5)
    assert await ControlStore(store.redis).cancel(cancelled, events, NOW + 5) == "cancelled"
    await finalize(store, timed_out.id, NOW + 3600.0, deadline_passed=True)

    for meta, status in ((cancelled, b"cancelled"), (timed_out, b"partial_failure")):
        body = await reader.body(meta.id)
        assert b'"status":"' + status + b'"' in (body or b"")
        assert body == await uncached(store, meta.id)


async def test_a_deleted_job_is_gone_and_a_new_one_under_its_id_is_fresh(
    store: JobStore,
) -> None:
    meta = new_meta(["a.example"])
    await create(store, meta)
    reader = DetailReader(store.redis)
    old = await reader.body(meta.id)
    assert old is not None

    assert await store.delete(meta.id)
    assert await reader.body(meta.id) is None
    assert len(reader) == 0

    # Same id, same status, same event count: only the creation time differs.
    again = new_meta(["a.example"], job_id=meta.id, created=NOW + 60.0)
    await create(store, again)
    fresh = await reader.body(meta.id)
    assert fresh != old
    assert fresh == await uncached(store, meta.id)


async def test_an_unknown_job_is_none(store: JobStore) -> None:
    assert await DetailReader(store.redis).body(str(uuid.uuid4())) is None


class CountingReader(DetailReader):
    """Counts real loads from Redis (the Redis client itself is real)."""

    loads = 0

    async def _load(self, job_id: str) -> tuple[tuple[bytes, bytes | None, int], bytes] | None:
        self.loads += 1
        return await super()._load(job_id)


async def test_concurrent_misses_share_one_load(store: JobStore) -> None:
    hosts = [f"h{i:03d}.example" for i in range(200)]
    meta = new_meta(hosts)
    await create(store, meta)
    for index, host in enumerate(hosts):
        await apply(store, meta.id, answer(meta.id, host, NOW + index / 100))
    reader = CountingReader(store.redis)

    bodies = await asyncio.gather(*(reader.body(meta.id) for _ in range(8)))

    assert len(set(bodies)) == 1
    assert bodies[0] == await uncached(store, meta.id)
    # Nothing changed between the reads: the first miss loads, the others join it.
    assert reader.loads == 1
    assert await reader.body(meta.id) is bodies[0]


async def test_the_cache_stays_within_its_byte_budget(store: JobStore) -> None:
    metas = [new_meta(["a.example"]) for _ in range(6)]
    for meta in metas:
        await create(store, meta)
    one = len(await DetailReader(store.redis).body(metas[0].id) or b"")
    reader = DetailReader(store.redis, max_bytes=one * 4)

    for meta in metas:
        await reader.body(meta.id)

    assert reader.size <= one * 4
    assert len(reader) == 4
    # The least recently used went first; the newest is still a hit.
    hits = reader.hits
    await reader.body(metas[-1].id)
    assert reader.hits == hits + 1
    await reader.body(metas[0].id)
    assert reader.hits == hits + 1


class FailingFirstReader(DetailReader):
    """Its first load dies (as on a dropped connection) once the test releases it."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(redis)
        self.release = asyncio.Event()
        self.loading = asyncio.Event()
        self.all_joined = asyncio.Event()
        self.failed = False
        self.joining = 0

    async def _load_shared(
        self, job_id: str, token: tuple[bytes, bytes | None, int]
    ) -> tuple[tuple[bytes, bytes | None, int], bytes] | None:
        if job_id in self._loading:
            self.joining += 1
            if self.joining == 3:
                self.all_joined.set()
        return await super()._load_shared(job_id, token)

    async def _load(self, job_id: str) -> tuple[tuple[bytes, bytes | None, int], bytes] | None:
        if not self.failed:
            self.failed = True
            self.loading.set()
            await self.release.wait()
            raise redis.exceptions.ConnectionError("connection lost")
        return await super()._load(job_id)


async def test_a_failed_shared_load_fails_only_its_own_request(store: JobStore) -> None:
    meta = new_meta(["a.example"])
    await create(store, meta)
    reader = FailingFirstReader(store.redis)
    first = asyncio.create_task(reader.body(meta.id))
    await reader.loading.wait()
    others = [asyncio.create_task(reader.body(meta.id)) for _ in range(3)]
    await reader.all_joined.wait()

    reader.release.set()

    with pytest.raises(redis.exceptions.ConnectionError):
        await first
    # The three that joined the failed load made their own, and answered.
    expected = await uncached(store, meta.id)
    assert await asyncio.gather(*others) == [expected] * 3


async def test_a_live_job_folds_only_new_events_and_stays_exact(store: JobStore) -> None:
    hosts = [f"n{i:02d}.example" for i in range(40)]
    meta = new_meta(hosts)
    await create(store, meta)
    reader = DetailReader(store.redis)
    await reader.body(meta.id)
    for start in range(0, 30, 10):  # 10 hosts stay silent: the job is not finished
        # New answers, plus a redelivered copy of one already folded.
        batch = [e for host in hosts[start : start + 10] for e in answer(meta.id, host, NOW)]
        await apply(store, meta.id, batch + answer(meta.id, hosts[0], NOW)[:1])
        assert await reader.body(meta.id) == await uncached(store, meta.id)
        assert reader.live_jobs == 1

    # Created again under the same id while its record is kept: folded afresh.
    assert await store.delete(meta.id)
    again = new_meta(hosts[:2], job_id=meta.id, created=NOW + 60.0)
    await create(store, again)
    await apply(store, meta.id, answer(meta.id, hosts[0], NOW + 61.0))
    assert await reader.body(meta.id) == await uncached(store, meta.id)

    await store.redis.hset(job_key(meta.id), "status", "failed")
    assert await reader.body(meta.id) == await uncached(store, meta.id)
    assert reader.live_jobs == 0  # finished: only its body is kept
