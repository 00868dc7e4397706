"""Job records and the agent registry in Redis. I/O: Redis only.

Key schema (every key of one job shares the hash tag ``{<id>}``, so the job
scripts run unchanged on Redis Cluster)::

    corral:{<id>}:job       hash   meta (msgpack JobMeta, secrets redacted), status,
                                   done, expected_n, updated, expire_at,
                                   dispatched (0 until the publish is acked),
                                   seq (CORRAL_JOBS stream sequence), sealed
                                   (the real operation, AES-GCM, if redacted)
    corral:{<id>}:events    hash   event_id -> msgpack Event; first copy wins
    corral:{<id>}:terminal  hash   hostname -> id of its first terminal event
    corral:{<id>}:expected  hash   hostname -> 1 for each agent a host/label/_all job
                                   expects (absent for _any): only they count as done
    corral:{index}:all      zset   job id scored by creation time (listing)
    corral:{index}:status:<s> zset job id scored by creation time, per status
    corral:{index}:rank     hash   job id -> status rank (forward-only index)
    corral:{index}:open     zset   unfinished job id scored by its deadline
    corral:{index}:undispatched zset job id scored by creation, until its publish is acked
    corral:{index}:cancelling zset cancelled job id scored by request time, until
                                   agents were told (controller/control_store.py)
    corral:agents           hash   hostname -> msgpack AgentRecord

Folding an event is O(1) Redis work whatever the number of agents: one
HSETNX of the event in its own field and a counter update, in one script
call per job per batch. The record is the fold of the stored events, done
on read (:func:`common.fold.fold_all`). Job keys expire after the retention;
the index sets are trimmed by the sweeper, so listing never SCANs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from common import messages
from common.detail import JobDetail, render
from common.fold import fold_all
from common.job import (
    FINAL_STATUSES,
    JOB_STATUSES,
    META_DECODER,
    STATUS_RANK,
    JobMeta,
)
from common.messages import ENCODER, EVENT_DECODER, Event, event_kind
from common.redaction import Redactor, redact_results
from controller import scripts
from controller.outcome import TIMEOUT_REASON, decide_status, timeout_events

INDEX_ALL = "corral:{index}:all"
INDEX_RANK = "corral:{index}:rank"
INDEX_OPEN = "corral:{index}:open"
INDEX_UNDISPATCHED = "corral:{index}:undispatched"
INDEX_CANCELLING = "corral:{index}:cancelling"
AGENTS = "corral:agents"
_RANKS_ARG = ",".join(f"{name}={rank}" for name, rank in STATUS_RANK.items())


def job_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:job"


def events_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:events"


def terminal_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:terminal"


def expected_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:expected"


def status_key(status: str) -> str:
    return f"corral:{{index}}:status:{status}"


INDEX_KEYS = [INDEX_RANK, *(status_key(s) for s in JOB_STATUSES), INDEX_OPEN]


class Applied(msgspec.Struct, frozen=True):
    """What one batch did to one job."""

    status: str
    done: int
    expected: int
    new_events: int

    @property
    def unknown(self) -> bool:
        return self.status == "unknown"

    @property
    def ready_to_finalize(self) -> bool:
        return (
            not self.unknown
            and self.status not in FINAL_STATUSES
            and (self.done >= self.expected > 0)
        )


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: float
    updated: float
    operation: messages.Operation
    target: str
    expected: int
    done: int


class AgentRecord(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    labels: dict[str, str]
    facts: messages.Facts
    last_seen: float
    first_seen: float
    state: str = "online"
    running: int = 0


AGENT_DECODER = msgspec.msgpack.Decoder(AgentRecord)


def is_terminal_event(event: Event) -> bool:
    return event_kind(event) in messages.TERMINAL_EVENTS


def _job_args(events: Iterable[tuple[Event, bytes]]) -> list[Any]:
    args: list[Any] = []
    for event, blob in events:
        args += [
            event.event_id,
            blob,
            event.hostname if is_terminal_event(event) else "",
            repr(event.timestamp),
        ]
    return args


class JobStore:
    def __init__(self, redis: Redis, retention: float, redactor: Redactor | None = None) -> None:
        self.redis = redis
        self.retention = retention
        self.redactor = redactor or Redactor()
        self._apply = redis.register_script(scripts.APPLY_EVENTS)
        self._set_final = redis.register_script(scripts.SET_FINAL_STATUS)
        self._index = redis.register_script(scripts.INDEX_STATUS)

    async def ping(self) -> None:
        await self.redis.ping()

    # -- writes ---------------------------------------------------------------

    async def create(
        self, meta: JobMeta, submitted: messages.Submitted, sealed: bytes | None = None
    ) -> None:
        """Write a new job, its ``submitted`` event and its index entries at once.

        The job is ``dispatched = 0`` and in the undispatched index until its
        publish is acknowledged, so a controller dying in between leaves a
        trace the reconciler finds (controller/reconcile.py).
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._queue_create(pipe, meta, submitted, sealed)
            await pipe.execute()

    async def create_many(
        self, records: Sequence[tuple[JobMeta, messages.Submitted, bytes | None]]
    ) -> list[Exception | None]:
        """Write many new jobs as :meth:`create` does, in one pipeline round trip.

        One entry per record: None if it was written, else the Redis error of
        its first failed command (that record alone failed). A lost
        connection raises for all of them.
        """
        spans: list[tuple[int, int]] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for meta, submitted, sealed in records:
                start = len(pipe)
                await self._queue_create(pipe, meta, submitted, sealed)
                spans.append((start, len(pipe)))
            replies = await pipe.execute(raise_on_error=False)
        return [next((r for r in replies[a:b] if isinstance(r, Exception)), None) for a, b in spans]

    async def _queue_create(
        self, pipe: Any, meta: JobMeta, submitted: messages.Submitted, sealed: bytes | None
    ) -> None:
        expire_at = int(meta.created + max(self.retention, meta.timeout) + 60)
        expected_n = len(meta.expected) if meta.expected is not None else 1
        key = job_key(meta.id)
        pipe.hset(
            key,
            mapping={
                "meta": ENCODER.encode(meta),
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
        pipe.zadd(INDEX_ALL, {meta.id: meta.created})
        pipe.zadd(INDEX_OPEN, {meta.id: meta.deadline})
        pipe.zadd(INDEX_UNDISPATCHED, {meta.id: meta.created})
        await self._index_call(pipe, meta.id, "submitted", meta.created)

    async def _index_call(self, pipe: Any, job_id: str, status: str, created: float) -> None:
        await self._index(
            keys=INDEX_KEYS,
            args=[job_id, JOB_STATUSES.index(status) + 1, STATUS_RANK[status], created],
            client=pipe,
        )

    async def apply(self, batch: dict[str, list[tuple[Event, bytes]]]) -> dict[str, Applied]:
        """Store a batch of events grouped by job, in one pipeline round trip."""
        if not batch:
            return {}
        job_ids = list(batch)
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                await self._apply(
                    keys=[
                        job_key(job_id),
                        events_key(job_id),
                        terminal_key(job_id),
                        expected_key(job_id),
                    ],
                    args=_job_args(redact_results(self.redactor, batch[job_id])),
                    client=pipe,
                )
            replies = await pipe.execute()
        outcomes: dict[str, Applied] = {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, reply in zip(job_ids, replies, strict=True):
                outcome = Applied(_text(reply[0]), int(reply[1]), int(reply[2]), int(reply[3]))
                outcomes[job_id] = outcome
                if outcome.status == "processing" and outcome.new_events:
                    await self._index_call(pipe, job_id, "processing", 0)
            if len(pipe):
                await pipe.execute()
        return outcomes

    async def finalize(
        self, job_id: str, now: float, *, deadline_passed: bool, reason: str = TIMEOUT_REASON
    ) -> str | None:
        """Give a job its final status; at the deadline, silent agents end ``timeout``."""
        loaded = await self.load(job_id)
        if loaded is None:
            await self.redis.zrem(INDEX_OPEN, job_id)
            return None
        meta, status, events = loaded
        if status in FINAL_STATUSES:
            await self.redis.zrem(INDEX_OPEN, job_id)
            return status
        record = fold_all(events)
        if deadline_passed:
            timeouts = timeout_events(meta, record, now, reason)
            if timeouts:
                await self.apply({job_id: [(e, ENCODER.encode(e)) for e in timeouts]})
                record = fold_all(timeouts, record)
        final = decide_status(meta, record)
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._set_final(
                keys=[job_key(job_id)], args=[final, STATUS_RANK[final], _RANKS_ARG], client=pipe
            )
            await self._index_call(pipe, job_id, final, meta.created)
            pipe.zrem(INDEX_OPEN, job_id)
            reply = await pipe.execute()
        return _text(reply[0]) if reply[0] else final

    async def delete(self, job_id: str) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(
                job_key(job_id), events_key(job_id), terminal_key(job_id), expected_key(job_id)
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
                self._unindex(pipe, [_text(i) for i in old])
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
        return META_DECODER.decode(meta_blob), _text(status), [decode(b) for b in blobs]

    async def detail(self, job_id: str) -> JobDetail | None:
        loaded = await self.load(job_id)
        if loaded is None:
            return None
        meta, status, events = loaded
        return render(meta, fold_all(events), status)

    async def meta(self, job_id: str) -> JobMeta | None:
        blob = await self.redis.hget(job_key(job_id), "meta")
        return None if blob is None else META_DECODER.decode(_blob(blob))

    async def due(self, now: float, limit: int = 100) -> list[str]:
        """Unfinished jobs whose deadline has passed."""
        ids = await self.redis.zrangebyscore(INDEX_OPEN, "-inf", now, start=0, num=limit)
        return [_text(i) for i in ids]

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
        total, counts, ids = replies[0], replies[1:-1], [_text(i) for i in replies[-1]]
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(job_key(job_id), "meta", "status", "updated", "done")
            rows = await pipe.execute()
        items = [_summary(row) for row in rows if row[0] is not None]
        return int(total), dict(zip(JOB_STATUSES, map(int, counts), strict=True)), items

    # -- agent registry -------------------------------------------------------

    async def save_agents(self, records: Iterable[AgentRecord]) -> None:
        mapping: dict[Any, Any] = {r.hostname: ENCODER.encode(r) for r in records}
        if mapping:
            await self.redis.hset(AGENTS, mapping=mapping)

    async def load_agents(self) -> list[AgentRecord]:
        blobs = await self.redis.hvals(AGENTS)
        return [AGENT_DECODER.decode(_blob(b)) for b in blobs]


def _summary(row: list[Any]) -> JobSummary:
    meta = META_DECODER.decode(row[0])
    return JobSummary(
        id=meta.id,
        status=_text(row[1]),
        created=meta.created,
        updated=float(row[2] or meta.created),
        operation=meta.operation,
        target=meta.target,
        expected=len(meta.expected) if meta.expected is not None else 1,
        done=int(row[3] or 0),
    )


def _blob(value: bytes | str) -> bytes:
    """The client runs with decode_responses off, so values are bytes."""
    return value.encode() if isinstance(value, str) else value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
