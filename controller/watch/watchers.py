"""Who waits for or watches jobs in this controller, woken by the change feed. I/O: NATS.

One subscription per controller process to ``corral.watch.jobs``
(controller/watch/changes.py) serves every waiter and watcher in it:

- :meth:`Watchers.final` waits for one job to be final (``POST /job?wait=``):
  it registers first, then checks the stored status once (the job may be
  final already), then sleeps until a change names the job final or its
  time runs out. A new job's waiter registers before the job exists
  (:meth:`Watchers.awaiting`, then :meth:`Watchers.within`): nothing to
  check, and no change can come before it. The collector in the same
  process reads a waited job back in the round trip that stores its events
  (:meth:`Watchers.waited`) and hands the waiter the final detail with the
  change, so the answer needs no read of its own;
- :meth:`Watchers.job` is woken on every change of one job (its SSE stream);
- :meth:`Watchers.firehose` receives every change of every job (``GET /events``),
  filtered by status and operation.

The firehose's work is done once per controller, not once per reader: each
job's operation type is taken from the message (or looked up once), and the
changes gather for ``FIREHOSE_FLUSH`` seconds before every reader is handed
one list, those its filters pass. A reader then writes a few times a second
however fast jobs change, and its write never lands on the path of a
waiter's answer.

Each registration is taken back when its request goes away (timeout, client
gone, stream done), so nothing is left behind. With nobody registered a
change message is dropped on arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from common import subjects
from common.job import FINAL_STATUSES
from common.messages import JOBS_CHANGED_DECODER, JobsChanged

log = structlog.get_logger("corral.watch")
StatusOf = Callable[[str], Awaitable[str | None]]
OperationOf = Callable[[str], Awaitable[str]]
Item = TypeVar("Item")
FIREHOSE_BACKLOG = 1_000  # lists of changes a slow firehose reader may fall behind by
FIREHOSE_FLUSH = 0.05  # seconds changes gather before firehose readers get them


class Final(NamedTuple):
    """A waited job's final status, and its detail when the change brought it."""

    status: str
    body: bytes | None = None  # the encoded detail of ``GET /job/{id}``


class Change(NamedTuple):
    job_id: str
    status: str
    operation: str  # the job's operation type ("" for a job gone meanwhile)


@dataclass(eq=False)
class Hose:
    """One firehose reader: its filters (empty: everything) and its backlog."""

    statuses: frozenset[str]
    operation: str | None
    queue: asyncio.Queue[list[Change]] = field(
        default_factory=lambda: asyncio.Queue(FIREHOSE_BACKLOG)
    )

    @property
    def passes_all(self) -> bool:
        return not self.statuses and self.operation is None

    def passes(self, change: Change) -> bool:
        return (not self.statuses or change.status in self.statuses) and (
            self.operation is None or change.operation == self.operation
        )


class Watchers:
    def __init__(self, status_of: StatusOf, operation_of: OperationOf) -> None:
        """``status_of`` / ``operation_of``: a job's stored status / operation type."""
        self.status_of = status_of
        self.operation_of = operation_of
        self.origin = uuid.uuid4().hex  # the change feed's messages from this process
        self.waiting: dict[str, set[asyncio.Future[Final]]] = {}
        self.watching: dict[str, set[asyncio.Event]] = {}
        self.hoses: set[Hose] = set()
        self.gathered: list[Change] = []  # for the firehose, until the flush
        self.flush: asyncio.TimerHandle | None = None
        self.subscription: Subscription | None = None

    def waited(self, job_ids: Iterable[str]) -> list[str]:
        """Those of ``job_ids`` that a request here waits for."""
        waiting = self.waiting
        return [job_id for job_id in job_ids if job_id in waiting] if waiting else []

    async def take(self, changed: JobsChanged, bodies: Mapping[str, bytes] | None = None) -> None:
        """Wake whoever waits for or watches the jobs ``changed`` names; ``bodies``:
        the final details the writer read back (job id -> encoded detail)."""
        if not (self.waiting or self.watching or self.hoses):
            return
        bodies = bodies or {}
        for job_id, status in changed.jobs.items():
            self._wake(job_id, status, bodies.get(job_id))
        if self.hoses:
            await self._pour(changed.jobs, changed.operations)

    async def subscribe(self, nc: NATS) -> None:
        self.subscription = await nc.subscribe(subjects.JOB_CHANGES, cb=self._on_changes)

    async def final(self, job_id: str, within: float) -> Final | None:
        """The job's final status once it has one, or None if ``within`` seconds pass first."""
        with self.awaiting(job_id) as future:
            status = await self.status_of(job_id)
            if status in FINAL_STATUSES:
                return Final(status)
            return await self.within(future, within)

    @contextlib.contextmanager
    def awaiting(self, job_id: str) -> Iterator[asyncio.Future[Final]]:
        """A future that a change naming ``job_id`` final sets, for the block's length."""
        future: asyncio.Future[Final] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(job_id, set()).add(future)
        try:
            yield future
        finally:
            _discard(self.waiting, job_id, future)

    @staticmethod
    async def within(future: asyncio.Future[Final], seconds: float) -> Final | None:
        """What ``future`` (from :meth:`awaiting`) brings, or None if ``seconds`` pass first."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(future, seconds)
        return None

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
    async def firehose(
        self, statuses: frozenset[str] = frozenset(), operation: str | None = None
    ) -> AsyncIterator[asyncio.Queue[list[Change]]]:
        """A queue of the changes of every job, in non-empty lists, only those with
        a status in ``statuses`` (if any) and of ``operation`` (if any)."""
        hose = Hose(statuses, operation)
        self.hoses.add(hose)
        try:
            yield hose.queue
        finally:
            self.hoses.discard(hose)

    async def _on_changes(self, msg: Msg) -> None:
        if not (self.waiting or self.watching or self.hoses):
            return
        try:
            changed = JOBS_CHANGED_DECODER.decode(msg.data)
        except ValueError as exc:
            log.warning("message_rejected", subject=msg.subject, reason=str(exc)[:200])
            return
        if changed.origin != self.origin:  # this process's own were taken directly
            await self.take(changed)

    def _wake(self, job_id: str, status: str, body: bytes | None) -> None:
        for changed in self.watching.get(job_id, ()):
            changed.set()
        if status in FINAL_STATUSES:
            for future in self.waiting.get(job_id, ()):
                if not future.done():
                    future.set_result(Final(status, body))

    async def _pour(self, jobs: dict[str, str], operations: dict[str, str]) -> None:
        self.gathered += [
            Change(job_id, status, operations.get(job_id) or await self.operation_of(job_id))
            for job_id, status in jobs.items()
        ]
        if self.flush is None:
            self.flush = asyncio.get_running_loop().call_later(FIREHOSE_FLUSH, self._hand_out)

    def _hand_out(self) -> None:
        self.flush = None
        changes, self.gathered = self.gathered, []
        for hose in self.hoses:
            passed = changes if hose.passes_all else [c for c in changes if hose.passes(c)]
            if passed:
                with contextlib.suppress(asyncio.QueueFull):  # a reader that fell behind misses it
                    hose.queue.put_nowait(passed)


def _discard(table: dict[str, set[Item]], key: str, item: Item) -> None:
    found = table.get(key)
    if found is not None:
        found.discard(item)
        if not found:
            del table[key]
