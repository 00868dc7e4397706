"""Job records and the agent registry in Redis. I/O: Redis only.

Key schema: controller/store/keys.py.

Folding an event is O(1) Redis work whatever the number of agents: one
HSETNX of the event in its own field and a counter update, in one script
call per job per batch; the call that makes the last expected agent done
also writes the final status (controller/store/scripts.py), so finishing a job
costs no extra round trip and no fold. The record is the fold of the stored
events, done on read (:func:`common.fold.fold_all`). Job keys expire after
the retention; the index sets are trimmed by the sweeper, so listing never
SCANs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import msgspec
from redis.exceptions import RedisClusterException, RedisError

from common import messages
from common.detail import JobDetail, render
from common.fold import fold_all
from common.job import FINAL_STATUSES, JOB_STATUSES, META_DECODER, STATUS_RANK, JobMeta
from common.messages import ENCODER, EVENT_DECODER, Event
from common.redaction import Redactor, redact_results
from controller.store.keys import (
    INDEX_ALL,
    INDEX_CANCELLING,
    INDEX_OPEN,
    INDEX_RANK,
    INDEX_UNDISPATCHED,
    events_key,
    expected_key,
    job_key,
    order_key,
    status_key,
    terminal_key,
)
from controller.store.redis import RedisClient, as_bytes, as_text, execute, run_pipeline
from controller.store.scripts import (
    SHAS,
    Applied,
    apply_args,
    index_command,
    snapshot_command,
)


class AppliedBatch(NamedTuple):
    """What :meth:`JobStore.apply_events` did to a batch."""

    outcomes: dict[str, Applied]  # per job
    moved: list[tuple[Any, ...]]  # the re-filing commands, for :meth:`JobStore.refile`
    snapshots: dict[str, list[Any]]  # the jobs read back final, as stored after the batch


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: float
    updated: float
    operation: messages.Operation
    target: str
    expected: int
    done: int


class JobStore:
    """Job records: created, dispatched, folded into, finalized, listed, deleted."""

    def __init__(
        self,
        redis: RedisClient,
        retention: float,
        redactor: Redactor | None = None,
        *,
        bulk: RedisClient | None = None,
    ) -> None:
        """``bulk``: the client for the hot pipelines (controller/store/redis.py)."""
        self.redis = redis
        self.bulk = bulk or redis
        self.retention = retention
        self.redactor = redactor or Redactor()

    async def ping(self) -> None:
        await self.redis.ping()

    # -- writes ---------------------------------------------------------------

    async def create(
        self, meta: JobMeta, submitted: messages.Submitted, sealed: bytes | None = None
    ) -> None:
        """Write a new job, its ``submitted`` event and its index entries at once.

        The job is ``dispatched = 0`` and in the undispatched index until its
        publish is acknowledged, so a controller dying in between leaves a
        trace the reconciler finds (controller/upkeep/reconcile.py).
        """
        [failed] = await self.create_many([(meta, submitted, sealed)])
        if failed is not None:
            raise failed

    async def create_many(
        self, records: Sequence[tuple[JobMeta, messages.Submitted, bytes | None]]
    ) -> list[Exception | None]:
        """Write many new jobs as :meth:`create` does, in one pipeline round trip.

        One command per index for all of them, their status filed directly
        (the ids are new: no INDEX_STATUS script needed). Per record: None if
        written, else the Redis error that kept it out; a lost connection raises.
        """
        spans: list[tuple[int, int]] = []
        async with self.bulk.pipeline(transaction=False) as pipe:
            for meta, submitted, sealed in records:
                start = len(pipe)
                self._queue_record(pipe, meta, submitted, sealed)
                spans.append((start, len(pipe)))
            shared = len(pipe)
            if records:
                metas = [meta for meta, _, _ in records]
                created = {m.id: m.created for m in metas}
                pipe.zadd(INDEX_ALL, created)
                pipe.zadd(INDEX_OPEN, {m.id: m.deadline for m in metas})
                pipe.zadd(INDEX_UNDISPATCHED, created)
                pipe.zadd(status_key("submitted"), created)
                pipe.hset(INDEX_RANK, mapping=dict.fromkeys(created, STATUS_RANK["submitted"]))
            try:
                replies = await run_pipeline(pipe, raise_on_error=False)
            except (RedisError, RedisClusterException):
                await self._unindex_unwritten([meta.id for meta, _, _ in records])
                raise
        index_error = next((r for r in replies[shared:] if isinstance(r, Exception)), None)
        outcomes = [
            next((r for r in replies[a:b] if isinstance(r, Exception)), index_error)
            for a, b in spans
        ]
        failed = [meta.id for (meta, _, _), error in zip(records, outcomes, strict=True) if error]
        if failed:
            await self._unindex_unwritten(failed)
        return outcomes

    async def _unindex_unwritten(self, job_ids: list[str]) -> None:
        """Best effort: drop the index entries of records that were not written whole.

        Such a job is never published (its request fails), but on a cluster its
        index entries may have reached the index slot's node while its own node
        was down: they would list, count and sweep a job that does not exist.
        What stays behind is dropped by the sweeper (open) and the trim (listing).
        """
        with contextlib.suppress(RedisError, RedisClusterException):
            async with self.redis.pipeline(transaction=False) as pipe:
                self._unindex(pipe, job_ids)
                await pipe.execute()

    def _queue_record(
        self, pipe: Any, meta: JobMeta, submitted: messages.Submitted, sealed: bytes | None
    ) -> None:
        """The job's own keys: its hash, expected set and ``submitted`` event."""
        expire_at = int(meta.created + max(self.retention, meta.timeout) + 60)
        expected_n = len(meta.expected) if meta.expected is not None else 1
        key = job_key(meta.id)
        pipe.hset(
            key,
            mapping={
                "meta": ENCODER.encode(meta),
                # Plain copies the scripts can return without decoding meta.
                "op": meta.operation.type,
                "created": repr(meta.created),
                "status": "submitted",
                "done": 0,
                "expected_n": expected_n,
                "updated": repr(meta.created),
                "expire_at": expire_at,
                "dispatched": 0,
                **({"sealed": sealed} if sealed is not None else {}),
            },
        )
        pipe.expireat(key, expire_at)
        if meta.expected:
            pipe.hset(expected_key(meta.id), mapping=dict.fromkeys(meta.expected, 1))
            pipe.expireat(expected_key(meta.id), expire_at)
        pipe.hsetnx(events_key(meta.id), submitted.event_id, ENCODER.encode(submitted))
        pipe.expireat(events_key(meta.id), expire_at)
        pipe.rpush(order_key(meta.id), submitted.event_id)
        pipe.expireat(order_key(meta.id), expire_at)

    async def mark_dispatched(self, acked: list[tuple[str, int]]) -> None:
        """Jobs whose publish was acknowledged, as (job id, stream sequence): one round trip."""
        if not acked:
            return
        sha = SHAS["mark"]
        commands: list[tuple[Any, ...]] = [
            ("EVALSHA", sha, 1, job_key(job_id), seq) for job_id, seq in acked
        ]
        commands.append(("ZREM", INDEX_UNDISPATCHED, *(job_id for job_id, _ in acked)))
        await execute(self.bulk, commands)

    async def apply(self, batch: dict[str, list[tuple[Event, bytes]]]) -> dict[str, Applied]:
        """Store a batch of events grouped by job (:meth:`apply_events`), then re-file
        the jobs that moved in the listing index (:meth:`refile`): two round trips."""
        applied = await self.apply_events(batch)
        await self.refile(applied.moved)
        return applied.outcomes

    async def apply_events(
        self, batch: dict[str, list[tuple[Event, bytes]]], read_back: Iterable[str] = ()
    ) -> AppliedBatch:
        """Store a batch of events grouped by job: one script call per job, one round trip.

        Returns each job's outcome and the commands that re-file in the listing
        index the jobs that moved (to processing, or to the final status the
        script wrote), for :meth:`refile`. Until then a job's detail may show a
        status its listing does not yet, as it may for any reader between the
        two round trips. The jobs of the batch named in ``read_back`` are read
        in the same round trip, as they are once the batch is stored, if they
        are final by then (``snapshot_command`` replies, for
        controller/store/read_cache.py).
        """
        if not batch:
            return AppliedBatch({}, [], {})
        sha, redactor = SHAS["apply"], self.redactor
        commands = [
            (
                "EVALSHA",
                sha,
                5,
                job_key(job_id),
                events_key(job_id),
                terminal_key(job_id),
                expected_key(job_id),
                order_key(job_id),
                *apply_args(redact_results(redactor, events)),
            )
            for job_id, events in batch.items()
        ]
        reads = [job_id for job_id in read_back if job_id in batch]
        commands += [snapshot_command(job_id, final_only=True) for job_id in reads]
        replies = await execute(self.bulk, commands)
        outcomes: dict[str, Applied] = {}
        index: list[tuple[Any, ...]] = []
        for job_id, reply in zip(batch, replies[: len(batch)], strict=True):
            status = as_text(reply[0])
            outcome = applied(status, reply)
            outcomes[job_id] = outcome
            # Final now; or a redelivered batch whose first pass may have died
            # before this re-filing (forward-only: a no-op when it did not); or
            # newly processing.
            if (
                outcome.finished
                or (status in FINAL_STATUSES and not outcome.new_events)
                or (status == "processing" and outcome.new_events)
            ):
                index.append(index_command(job_id, status, 0))
        read = zip(reads, replies[len(batch) :], strict=True)
        snapshots = {job_id: snapshot for job_id, snapshot in read if snapshot}
        return AppliedBatch(outcomes, index, snapshots)

    async def refile(self, moved: list[tuple[Any, ...]]) -> None:
        """Run :meth:`apply_events`'s re-filing commands: one round trip, if any."""
        if moved:
            await execute(self.bulk, moved)

    async def set_final(self, job_id: str, status: str) -> str | None:
        """Give the job ``status`` unless it has one of equal or higher rank: the one
        it keeps, or None if the job is gone."""
        set_final = ("EVALSHA", SHAS["set_final"], 1, job_key(job_id), status)
        [kept] = await execute(self.bulk, [set_final])
        return None if not kept else as_text(kept)

    async def forget_open(self, job_id: str) -> None:
        """No longer look at this job's deadline (it is gone)."""
        await self.redis.zrem(INDEX_OPEN, job_id)

    async def file_final(self, job_id: str, status: str, created: float) -> None:
        """The listing files a final job under its status and no longer as open."""
        await execute(
            self.bulk, [index_command(job_id, status, created), ("ZREM", INDEX_OPEN, job_id)]
        )

    async def delete(self, job_id: str) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(
                job_key(job_id),
                events_key(job_id),
                terminal_key(job_id),
                expected_key(job_id),
                order_key(job_id),
            )
            self._unindex(pipe, [job_id])
            replies = await pipe.execute()
        return bool(replies[0])

    def _unindex(self, pipe: Any, job_ids: Sequence[str]) -> None:
        for key in (
            INDEX_ALL,
            INDEX_OPEN,
            INDEX_UNDISPATCHED,
            INDEX_CANCELLING,
            *(status_key(s) for s in JOB_STATUSES),
        ):
            pipe.zrem(key, *job_ids)
        pipe.hdel(INDEX_RANK, *job_ids)

    async def trim_index(self, now: float, limit: int = 1000) -> int:
        """Drop index entries of jobs past the retention (their keys expired)."""
        old = await self.redis.zrangebyscore(
            INDEX_ALL, "-inf", now - self.retention, start=0, num=limit
        )
        if old:
            async with self.redis.pipeline(transaction=False) as pipe:
                self._unindex(pipe, [as_text(i) for i in old])
                await pipe.execute()
        return len(old)

    # -- reads ----------------------------------------------------------------

    async def load(self, job_id: str) -> tuple[JobMeta, str, list[Event]] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(job_key(job_id), "meta", "status")
            pipe.hvals(events_key(job_id))
            (meta_blob, status), blobs = await pipe.execute()
        if meta_blob is None:
            return None
        decode = EVENT_DECODER.decode
        return META_DECODER.decode(meta_blob), as_text(status), [decode(b) for b in blobs]

    async def detail(self, job_id: str) -> JobDetail | None:
        loaded = await self.load(job_id)
        if loaded is None:
            return None
        meta, status, events = loaded
        return render(meta, fold_all(events), status)

    async def arrivals(self, job_id: str, start: int) -> tuple[str, list[Event]] | None:
        """The job's status and its events from position ``start`` on, in the order the
        store took them (``order``); None if the job is gone.

        Status and positions are read atomically: a final status is written no
        earlier than the events that made it, so none is missing behind it.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(job_key(job_id), "status")
            pipe.lrange(order_key(job_id), start, -1)
            status, ids = await pipe.execute()
        if status is None:
            return None
        blobs = await self.redis.hmget(events_key(job_id), ids) if ids else []
        decode = EVENT_DECODER.decode
        return as_text(status), [decode(as_bytes(b)) for b in blobs if b is not None]

    async def meta(self, job_id: str) -> JobMeta | None:
        blob = await self.redis.hget(job_key(job_id), "meta")
        return None if blob is None else META_DECODER.decode(as_bytes(blob))

    async def operation_type(self, job_id: str) -> str:
        """The job's operation type, "" for a job not stored."""
        return as_text(await self.redis.hget(job_key(job_id), "op") or b"")

    async def due(self, now: float, limit: int = 100) -> list[str]:
        """Unfinished jobs whose deadline has passed."""
        ids = await self.redis.zrangebyscore(INDEX_OPEN, "-inf", now, start=0, num=limit)
        return [as_text(i) for i in ids]

    async def listing(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[int, dict[str, int], list[JobSummary]]:
        index = status_key(status) if status else INDEX_ALL
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(index)
            for name in JOB_STATUSES:
                pipe.zcard(status_key(name))
            pipe.zrevrange(index, offset, offset + limit - 1)
            replies = await pipe.execute()
        total, counts, ids = replies[0], replies[1:-1], [as_text(i) for i in replies[-1]]
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(job_key(job_id), "meta", "status", "updated", "done")
            rows = await pipe.execute()
        items = [_summary(row) for row in rows if row[0] is not None]
        return int(total), dict(zip(JOB_STATUSES, map(int, counts), strict=True)), items


def _summary(row: list[Any]) -> JobSummary:
    meta = META_DECODER.decode(row[0])
    return JobSummary(
        id=meta.id,
        status=as_text(row[1]),
        created=meta.created,
        updated=float(row[2] or meta.created),
        operation=meta.operation,
        target=meta.target,
        expected=len(meta.expected) if meta.expected is not None else 1,
        done=int(row[3] or 0),
    )


def applied(status: str, reply: list[Any]) -> Applied:
    """APPLY_EVENTS's reply as an :class:`Applied`."""
    done, expected, new, flag, rejected = (int(value) for value in reply[1:6])
    return Applied(
        status,
        done,
        expected,
        new,
        flag,
        rejected,
        operation=as_text(reply[6]),
        created=float(reply[7]),
        started=bool(int(reply[8])),
    )
