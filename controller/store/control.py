"""Dispatch and cancel bookkeeping in Redis, next to the job store. I/O: Redis only.

The key schema is in :mod:`controller.store.jobs`'s docstring. This module owns
the fields and indexes that make two promises hold across controller
crashes:

- *never stuck submitted*: a job stays in ``corral:{index}:undispatched``
  until its publish is acknowledged (``dispatched = 1``, ``seq`` = its
  CORRAL_JOBS stream sequence); the reconciler republishes or fails what is
  left there;
- *cancel reaches the agents*: a cancelled job stays in
  ``corral:{index}:cancelling`` until its stream message was deleted and the
  signed cancel request published; the reconciler retries what is left.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from common.job import CONTROLLER, FINAL_STATUSES, JOB_STATUSES, META_DECODER, STATUS_RANK, JobMeta
from common.messages import ENCODER, Cancelled
from controller.replies import as_bytes, as_text
from controller.store import scripts
from controller.store.jobs import JobStore
from controller.store.keys import (
    INDEX_CANCELLING,
    INDEX_KEYS,
    INDEX_UNDISPATCHED,
    events_key,
    job_key,
    terminal_key,
)

_FINALS = ",".join(sorted(FINAL_STATUSES))
CANCELLED_INDEX = JOB_STATUSES.index("cancelled") + 1  # 1-based, as INDEX_STATUS wants


class DispatchState(msgspec.Struct, frozen=True, kw_only=True):
    """What the reconciler needs to republish a job."""

    meta: JobMeta
    status: str
    dispatched: bool
    seq: int | None
    sealed: bytes | None


class ControlStore:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.redis: Redis = store.redis
        self._cancel = self.redis.register_script(scripts.CANCEL_JOB)
        self._index = self.redis.register_script(scripts.INDEX_STATUS)

    # -- dispatch ----------------------------------------------------------------

    async def forget_undispatched(self, job_id: str) -> None:
        await self.redis.zrem(INDEX_UNDISPATCHED, job_id)

    async def undispatched(self, created_before: float, limit: int = 100) -> list[str]:
        """Jobs written before ``created_before`` whose publish was never acknowledged."""
        ids = await self.redis.zrangebyscore(
            INDEX_UNDISPATCHED, "-inf", created_before, start=0, num=limit
        )
        return [as_text(i) for i in ids]

    async def dispatch_state(self, job_id: str) -> DispatchState | None:
        meta, status, dispatched, seq, sealed = await self.redis.hmget(
            job_key(job_id), "meta", "status", "dispatched", "seq", "sealed"
        )
        if meta is None:
            return None
        return DispatchState(
            meta=META_DECODER.decode(as_bytes(meta)),
            status=as_text(status),
            # Jobs written before this field existed were published in line.
            dispatched=dispatched is None or as_text(dispatched) == "1",
            seq=int(seq) if seq is not None else None,
            sealed=None if sealed is None else as_bytes(sealed),
        )

    # -- cancel ------------------------------------------------------------------

    async def cancel(self, job: JobMeta, events: list[Cancelled], now: float) -> str:
        """Record a cancel: ``cancelled``, ``final:<status>`` (already final) or ``unknown``."""
        args: list[Any] = [_FINALS, repr(now)]
        for event in events:
            terminal = "" if event.hostname == CONTROLLER else event.hostname
            args += [event.event_id, ENCODER.encode(event), terminal]
        outcome = as_text(
            await self._cancel(
                keys=[job_key(job.id), events_key(job.id), terminal_key(job.id)], args=args
            )
        )
        if outcome != "cancelled":
            return outcome
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._index(
                keys=INDEX_KEYS,
                args=[job.id, CANCELLED_INDEX, STATUS_RANK["cancelled"], job.created],
                client=pipe,
            )
            pipe.zadd(INDEX_CANCELLING, {job.id: now})
            pipe.zrem(INDEX_UNDISPATCHED, job.id)
            await pipe.execute()
        return outcome

    async def cancelling(self, requested_before: float, limit: int = 100) -> list[str]:
        """Cancelled jobs whose agents may not have been told yet."""
        ids = await self.redis.zrangebyscore(
            INDEX_CANCELLING, "-inf", requested_before, start=0, num=limit
        )
        return [as_text(i) for i in ids]

    async def cancel_told(self, job_id: str) -> None:
        await self.redis.zrem(INDEX_CANCELLING, job_id)

    async def exists(self, job_id: str) -> bool:
        return bool(await self.redis.exists(job_key(job_id)))

    async def status(self, job_id: str) -> str | None:
        found = await self.redis.hget(job_key(job_id), "status")
        return None if found is None else as_text(found)

    async def is_undispatched(self, job_id: str) -> bool:
        return await self.redis.zscore(INDEX_UNDISPATCHED, job_id) is not None
