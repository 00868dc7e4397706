"""Dispatch and cancel bookkeeping in Redis, next to the job store. I/O: Redis only.

The key schema is in :mod:`controller.store.keys`. This module owns
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

from collections.abc import Sequence
from typing import Any

import msgspec

from common.job import CONTROLLER, META_DECODER, JobMeta
from common.messages import ENCODER, Cancelled
from controller.store.keys import (
    INDEX_CANCELLING,
    INDEX_UNDISPATCHED,
    events_key,
    job_key,
    order_key,
    terminal_key,
)
from controller.store.redis import RedisClient, as_bytes, as_text, execute
from controller.store.scripts import SHAS, index_command


class DispatchState(msgspec.Struct, frozen=True, kw_only=True):
    """What the reconciler needs to republish a job."""

    meta: JobMeta
    status: str
    dispatched: bool
    seq: int | None
    sealed: bytes | None


class ControlStore:
    def __init__(self, redis: RedisClient, *, bulk: RedisClient | None = None) -> None:
        """``bulk``: the client for script pipelines (controller/store/redis.py)."""
        self.redis = redis
        self.bulk = bulk or redis

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
        keys = (job_key(job.id), events_key(job.id), terminal_key(job.id), order_key(job.id))
        args: list[Any] = [repr(now)]
        for event in events:
            terminal = "" if event.hostname == CONTROLLER else event.hostname
            args += [event.event_id, ENCODER.encode(event), terminal]
        [reply] = await execute(self.bulk, [("EVALSHA", SHAS["cancel"], len(keys), *keys, *args)])
        outcome = as_text(reply)
        if outcome == "cancelled":
            await execute(
                self.bulk,
                [
                    index_command(job.id, "cancelled", job.created),
                    ("ZADD", INDEX_CANCELLING, now, job.id),
                    ("ZREM", INDEX_UNDISPATCHED, job.id),
                ],
            )
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

    async def statuses(self, job_ids: Sequence[str]) -> list[str | None]:
        """Each job's status (None if it is gone), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(job_key(job_id), "status")
            found = await pipe.execute()
        return [None if s is None else as_text(s) for s in found]

    async def is_undispatched(self, job_id: str) -> bool:
        return await self.redis.zscore(INDEX_UNDISPATCHED, job_id) is not None
