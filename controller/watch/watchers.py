"""Who waits for or watches jobs in this controller, woken by the change feed. I/O: NATS.

One subscription per controller process to ``corral.watch.jobs``
(controller/watch/changes.py) serves every waiter and watcher in it:

- :meth:`Watchers.final` waits for one job to be final (``POST /job?wait=``):
  it registers first, then checks the stored status once (the job may be
  final already), then sleeps until a change names the job final or its
  time runs out;
- :meth:`Watchers.job` is woken on every change of one job (its SSE stream);
- :meth:`Watchers.firehose` receives every change of every job (``GET /events``).

Each registration is taken back when its request goes away (timeout, client
gone, stream done), so nothing is left behind. With nobody registered a
change message is dropped on arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from common import subjects
from common.job import FINAL_STATUSES
from common.messages import JOBS_CHANGED_DECODER

log = structlog.get_logger("corral.watch")
StatusOf = Callable[[str], Awaitable[str | None]]
Item = TypeVar("Item")
FIREHOSE_BACKLOG = 10_000  # changes a slow firehose reader may fall behind by


class Watchers:
    def __init__(self, status_of: StatusOf) -> None:
        self.status_of = status_of
        self.waiting: dict[str, set[asyncio.Future[str]]] = {}
        self.watching: dict[str, set[asyncio.Event]] = {}
        self.hoses: set[asyncio.Queue[tuple[str, str]]] = set()
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
            _discard(self.waiting, job_id, future)

    @contextlib.asynccontextmanager
    async def job(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``job_id`` changes (the watcher clears it)."""
        changed = asyncio.Event()
        self.watching.setdefault(job_id, set()).add(changed)
        try:
            yield changed
        finally:
            _discard(self.watching, job_id, changed)

    @contextlib.asynccontextmanager
    async def firehose(self) -> AsyncIterator[asyncio.Queue[tuple[str, str]]]:
        """A queue of (job id, status) for every change of every job."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(FIREHOSE_BACKLOG)
        self.hoses.add(queue)
        try:
            yield queue
        finally:
            self.hoses.discard(queue)

    async def _on_changes(self, msg: Msg) -> None:
        if not (self.waiting or self.watching or self.hoses):
            return
        try:
            changed = JOBS_CHANGED_DECODER.decode(msg.data).jobs
        except ValueError as exc:
            log.warning("message_rejected", subject=msg.subject, reason=str(exc)[:200])
            return
        for job_id, status in changed.items():
            self._wake(job_id, status)

    def _wake(self, job_id: str, status: str) -> None:
        for changed in self.watching.get(job_id, ()):
            changed.set()
        if status in FINAL_STATUSES:
            for future in self.waiting.get(job_id, ()):
                if not future.done():
                    future.set_result(status)
        for queue in self.hoses:
            with contextlib.suppress(asyncio.QueueFull):  # a reader that fell behind misses it
                queue.put_nowait((job_id, status))


def _discard(table: dict[str, set[Item]], key: str, item: Item) -> None:
    found = table.get(key)
    if found is not None:
        found.discard(item)
        if not found:
            del table[key]
