"""Committing many new jobs at once: records, publishes, dispatched marks. I/O: Redis, NATS.

One commit of N jobs costs three round trips, not 3N: one Redis pipeline
writes every record (``dispatched = 0``, in the undispatched index), the N
signed publishes go out with ``publish_async`` and their acks are awaited
together, one pipeline marks the acked ones dispatched. Records are written
before anything is published, so an agent's first event always finds its
job. A publish that fails or is not acked in time is sent again (same
``Nats-Msg-Id``, stored once) for up to ``retry_within`` seconds and never
past the job's deadline: long enough for a NATS cluster to elect a new
stream leader, whose absence reads as "no response from stream" or no ack.
Still not acked, the job is left to the reconciler
(controller/upkeep/reconcile.py), exactly as a single submit does.

:class:`GroupCommit` lets concurrent single submits share commits: each
request enqueues its job and awaits its own future; one commit task at a
time takes everything queued (up to a limit) and answers each request with
its own outcome. Jobs queued while a commit runs go into the next one, so
the busier the controller, the larger its commits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck

from common.errors import BrokerUnavailable
from common.job import JobMeta
from common.messages import ENCODER, JobSpec, Submitted
from common.signing import Signer
from common.targets import parse_target
from controller.metrics import ControllerMetrics
from controller.store.jobs import JobStore

log = structlog.get_logger("corral.dispatch")
# Past a leader election on a loaded cluster, short of an HTTP client's patience.
RETRY_WITHIN = 8.0
RETRY_DELAY_FIRST, RETRY_DELAY_MAX = 0.1, 1.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated job ready to commit: ``meta`` is real (published), ``stored`` redacted."""

    meta: JobMeta
    stored: JobMeta
    submitted: Submitted
    sealed: bytes | None


Outcome = Exception | None  # None: the record is written (and its publish acked or left over)
StartRollouts = Callable[[Sequence[JobMeta]], Awaitable[list[bool]]]


class Committer:
    def __init__(
        self,
        store: JobStore,
        js: JetStreamContext,
        signer: Signer,
        ack_timeout: float = 5.0,
        metrics: ControllerMetrics | None = None,
        rollouts: StartRollouts | None = None,
        retry_within: float = RETRY_WITHIN,
    ) -> None:
        """``rollouts``: takes recorded rollout jobs over; per job, whether it did."""
        self.rollouts = rollouts
        self.store = store
        self.retry_within = retry_within
        self.metrics = metrics
        self.js = js
        self.signer = signer
        self.ack_timeout = ack_timeout

    async def commit(self, jobs: Sequence[Prepared]) -> list[Outcome]:
        """Write, publish and mark ``jobs``; per job, the error that kept its record out."""
        outcomes = await self.store.create_many([(j.stored, j.submitted, j.sealed) for j in jobs])
        written = [j.meta for j, failed in zip(jobs, outcomes, strict=True) if failed is None]
        await self.dispatch(written)
        return outcomes

    async def dispatch(self, metas: Sequence[JobMeta]) -> list[bool]:
        """Publish recorded jobs and mark the acked ones dispatched; per job, whether acked.

        A job not acked stays undispatched, for the reconciler to republish or fail.
        A rollout job is not published here: it is handed to the rollouts
        (controller/jobs/rollout.py), and dispatched once they carry it.
        """
        rolling = [m for m in metas if m.rollout is not None]
        if not rolling:
            return await self.publish_and_mark(metas)
        plain = [m for m in metas if m.rollout is None]
        done = dict(zip((m.id for m in plain), await self.publish_and_mark(plain), strict=True))
        started = [False] * len(rolling)
        if self.rollouts is not None:
            started = await self.rollouts(rolling)
        # It has no message of its own (each agent's copy has one): sequence 0.
        taken = [(m.id, 0) for m, ok in zip(rolling, started, strict=True) if ok]
        try:
            await self.store.mark_dispatched(taken)
        except Exception as exc:  # noqa: BLE001 - the reconciler hands it over again, harmlessly
            log.warning("jobs_mark_dispatched_failed", jobs=len(taken), error=str(exc))
        done.update(zip((m.id for m in rolling), started, strict=True))
        return [done[m.id] for m in metas]

    async def publish_and_mark(self, metas: Sequence[JobMeta]) -> list[bool]:
        """Publish jobs on their targets' subjects, mark the acked ones; per job, whether acked."""
        seqs = await self.publish_until_acked(metas)
        acked = [(m.id, seq) for m, seq in zip(metas, seqs, strict=True) if seq is not None]
        if self.metrics is not None and len(acked) < len(metas):
            self.metrics.dispatch_errors.inc(len(metas) - len(acked))
        try:
            await self.store.mark_dispatched(acked)
        except Exception as exc:  # noqa: BLE001 - a republish is deduplicated by Nats-Msg-Id
            log.warning("jobs_mark_dispatched_failed", jobs=len(acked), error=str(exc))
        return [seq is not None for seq in seqs]

    async def publish_until_acked(self, metas: Sequence[JobMeta]) -> list[int | None]:
        """:meth:`publish_all`, then again for the unacked ones while the retry
        window lasts and their deadline is ahead; per job its sequence or None."""
        seqs = await self.publish_all(metas)
        give_up = time.monotonic() + self.retry_within
        delay = RETRY_DELAY_FIRST
        while True:
            now = time.time()
            again = [i for i, seq in enumerate(seqs) if seq is None and metas[i].deadline > now]
            if not again or time.monotonic() + delay >= give_up:
                return seqs
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_DELAY_MAX)
            log.info("jobs_publish_retried", jobs=len(again))
            for i, seq in zip(
                again, await self.publish_all([metas[i] for i in again]), strict=True
            ):
                seqs[i] = seq

    async def publish_all(self, metas: Sequence[JobMeta]) -> list[int | None]:
        """Publish every job, then await all the acks; per job its stream sequence or None."""
        pending: list[asyncio.Future[PubAck] | None] = []
        for meta in metas:
            try:
                subject, payload = self.message(meta)
                # No wait_stall (a wait_for per publish, docs/performance.md): a
                # stall on the pending limit ends when earlier acks arrive or time out below.
                future = await self.js.publish_async(
                    subject, payload, headers={"Nats-Msg-Id": meta.id}
                )
                pending.append(future)
            except Exception as exc:  # noqa: BLE001 - the reconciler republishes it
                log.warning("job_publish_failed", job_id=meta.id, error=str(exc))
                pending.append(None)
        futures = [f for f in pending if f is not None]
        if futures:
            # publish_async futures have no timeout of their own: bound the wait.
            _, late = await asyncio.wait(futures, timeout=self.ack_timeout)
            for future in late:
                future.cancel()
        return [self._seq(meta, future) for meta, future in zip(metas, pending, strict=True)]

    def message(self, meta: JobMeta) -> tuple[str, bytes]:
        """The subject and signed payload that publish ``meta`` (its real operation)."""
        spec = JobSpec(
            job_id=meta.id,
            operation=meta.operation,
            target=meta.target,
            issued_at=meta.created,
            deadline=meta.deadline,
            timeout=meta.timeout,
            dry_run=meta.dry_run,
        )
        payload = ENCODER.encode(self.signer.sign(ENCODER.encode(spec)))
        return parse_target(meta.target).subject(), payload

    @staticmethod
    def _seq(meta: JobMeta, future: asyncio.Future[PubAck] | None) -> int | None:
        if future is None:
            return None
        if future.cancelled():
            log.warning("job_publish_failed", job_id=meta.id, error="no ack in time")
            return None
        if (exc := future.exception()) is not None:
            log.warning("job_publish_failed", job_id=meta.id, error=str(exc))
            return None
        return int(future.result().seq)


@dataclass(eq=False, slots=True)
class _Waiting:
    job: Prepared
    future: asyncio.Future[None]


class GroupCommit:
    """Concurrent submits share commits; each request learns its own job's outcome."""

    def __init__(
        self, commit: Callable[[list[Prepared]], Awaitable[list[Outcome]]], limit: int = 1000
    ) -> None:
        self.commit = commit
        self.limit = limit
        self.queue: list[_Waiting] = []
        self.running: asyncio.Task[None] | None = None

    async def submit(self, job: Prepared) -> None:
        """Return once ``job``'s record is written; raise what kept it out."""
        waiting = _Waiting(job, asyncio.get_running_loop().create_future())
        self.queue.append(waiting)
        if self.running is None:
            # Starts on the next loop iteration: requests of this one join it.
            self.running = asyncio.create_task(self._run())
        await waiting.future

    async def _run(self) -> None:
        batch, self.queue = self.queue[: self.limit], self.queue[self.limit :]
        try:
            outcomes = await self.commit([w.job for w in batch])
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else BrokerUnavailable("submit interrupted")
            for waiting in batch:
                _settle(waiting.future, failure)
            if not isinstance(exc, Exception):
                raise
        else:
            for waiting, outcome in zip(batch, outcomes, strict=True):
                _settle(waiting.future, outcome)
        finally:
            self.running = asyncio.create_task(self._run()) if self.queue else None


def _settle(future: asyncio.Future[None], outcome: Outcome) -> None:
    if future.done():  # its request was cancelled; the job is committed all the same
        return
    if outcome is None:
        future.set_result(None)
    else:
        future.set_exception(outcome)
