"""Waiting for a job to be final without polling: woken by the change feed. I/O: NATS.

One subscription per controller process to ``corral.watch.jobs``
(controller/watch/changes.py); a request that waits registers a future for
its job id, checks the stored status once (the job may be final already),
then sleeps until a change names the job as final or its time runs out. A
request that goes away (timeout, client gone) takes its future back, so
nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from common import subjects
from common.job import FINAL_STATUSES
from common.messages import JOBS_CHANGED_DECODER

log = structlog.get_logger("corral.watch")
StatusOf = Callable[[str], Awaitable[str | None]]


class Waiters:
    def __init__(self, status_of: StatusOf) -> None:
        self.status_of = status_of
        self.waiting: dict[str, set[asyncio.Future[str]]] = {}
        self.subscription: Subscription | None = None

    async def subscribe(self, nc: NATS) -> None:
        self.subscription = await nc.subscribe(subjects.JOB_CHANGES, cb=self._on_changes)

    async def final(self, job_id: str, within: float) -> str | None:
        """The job's final status once it has one, or None if ``within`` seconds pass first."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(job_id, set()).add(future)
        try:
            status = await self.status_of(job_id)
            if status in FINAL_STATUSES:
                return status
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(future, within)
            return None
        finally:
            self._forget(job_id, future)

    def _forget(self, job_id: str, future: asyncio.Future[str]) -> None:
        futures = self.waiting.get(job_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del self.waiting[job_id]

    async def _on_changes(self, msg: Msg) -> None:
        if not self.waiting:
            return
        try:
            changed = JOBS_CHANGED_DECODER.decode(msg.data).jobs
        except ValueError as exc:
            log.warning("message_rejected", subject=msg.subject, reason=str(exc)[:200])
            return
        for job_id, status in changed.items():
            if status in FINAL_STATUSES:
                for future in self.waiting.get(job_id, ()):
                    if not future.done():
                        future.set_result(status)
