"""Cancelling a job, the controller's side of the cancel protocol. I/O: Redis, NATS.

In this order (docs/security.md and the cancel protocol):

1. record it in Redis, atomically unless the job is already final (409):
   every expected agent not yet terminal gets a controller-written
   ``cancelled`` event (attempt 0, "cancelled by request"), the job gets a
   job-level ``cancelled`` marker (hostname ``controller``, which also covers
   an ``_any`` job no agent picked yet), and the status becomes ``cancelled``;
2. delete the job's message from CORRAL_JOBS by the sequence stored at
   dispatch (a rollout's: each copy sent so far), so an agent that has not
   received it never will; a rollout sends nothing more once the job is final;
3. publish a signed :class:`~common.messages.CancelRequest` on core NATS
   (``corral.control.cancel``) so agents running or holding it stop.

Steps 2 and 3 are retried by the reconciler until they succeed (the job
stays in the cancelling index), so a NATS outage delays them, never drops
them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import APIError

from common import subjects
from common.detail import CANCELLED_ERROR
from common.errors import Conflict, NotFound
from common.fold import JobRecord, fold_all
from common.job import CONTROLLER, JobMeta
from common.messages import ENCODER, Cancelled, CancelRequest, event_id
from common.signing import Signer
from controller.metrics import ControllerMetrics
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.rollouts import RolloutStore
from controller.upkeep.finalize import unfinished
from controller.watch.changes import ChangeFeed

log = structlog.get_logger("corral.cancel")


def cancel_events(meta: JobMeta, record: JobRecord, now: float) -> list[Cancelled]:
    """The job-level marker and one ``cancelled`` per agent not yet terminal."""
    if meta.expected is None:
        hosts = sorted(h for h, s in record.agents.items() if not s.is_terminal)
    else:
        hosts = unfinished(meta.expected, record)
    return [
        Cancelled(
            event_id=event_id(meta.id, host, 0, "cancelled"),
            job_id=meta.id,
            hostname=host,
            timestamp=now,
            attempt=0,
            message="cancel requested" if host == CONTROLLER else "",
            error=CANCELLED_ERROR,
        )
        for host in [CONTROLLER, *hosts]
    ]


class Canceller:
    def __init__(
        self,
        store: JobStore,
        control: ControlStore,
        nc: NATS,
        js: JetStreamContext,
        signer: Signer,
        clock: Callable[[], float] = time.time,
        feed: ChangeFeed | None = None,
        metrics: ControllerMetrics | None = None,
        rollouts: RolloutStore | None = None,
    ) -> None:
        self.rollouts = rollouts
        self.metrics = metrics
        self.store = store
        self.control = control
        self.nc = nc
        self.js = js
        self.signer = signer
        self.clock = clock
        self.feed = feed

    async def cancel(self, job_id: str) -> None:
        """Cancel ``job_id``: 404 unknown, 409 already final."""
        loaded = await self.store.load(job_id)
        if loaded is None:
            raise NotFound(f"no job with id {job_id}")
        meta, _, events = loaded
        now = self.clock()
        outcome = await self.control.cancel(meta, cancel_events(meta, fold_all(events), now), now)
        if outcome == "unknown":
            raise NotFound(f"no job with id {job_id}")
        if outcome != "cancelled":
            status = outcome.removeprefix("final:")
            raise Conflict(f"job {job_id} is already {status}", title="job already finished")
        log.info("job_cancelled", job_id=job_id)
        if self.feed is not None:
            await self.feed.publish({job_id: "cancelled"}, {job_id: meta.operation.type})
        if self.metrics is not None:
            self.metrics.job_finished("cancelled", meta.operation.type, meta.created)
        try:
            await self.tell_agents(job_id, now)
        except Exception as exc:  # noqa: BLE001 - recorded; the reconciler tells them later
            log.warning("cancel_notify_failed", job_id=job_id, error=str(exc))

    async def tell_agents(self, job_id: str, requested_at: float) -> None:
        """Delete the job's stream message and broadcast the signed cancel request."""
        state = await self.control.dispatch_state(job_id)
        # Until the publish is recorded (its sequence known) the job message
        # may still land in the stream; an agent that missed the broadcast
        # would then fetch and run it. So the job stays "cancelling", and the
        # reconciler comes back, until the message is deleted or the job's
        # deadline makes every agent refuse it anyway.
        settled = True
        if state is not None and state.meta.rollout is not None and self.rollouts is not None:
            # A rollout's copies, one per agent sent to (controller/jobs/rollout.py).
            seqs, unknown = await self.rollouts.messages(job_id)
            for seq in seqs:
                await self._delete(job_id, seq)
            settled = not unknown or self.clock() >= state.meta.deadline
        elif state is not None and state.seq is not None:
            await self._delete(job_id, state.seq)
        elif state is not None and self.clock() < state.meta.deadline:
            settled = False
        request = CancelRequest(job_id=job_id, requested_at=requested_at)
        signed = self.signer.sign(ENCODER.encode(request))
        await self.nc.publish(subjects.CANCEL, ENCODER.encode(signed))
        await self.nc.flush(timeout=2)
        if settled:
            await self.control.cancel_told(job_id)

    async def _delete(self, job_id: str, seq: int) -> None:
        try:
            await self.js.delete_msg(subjects.JOBS_STREAM, seq)
        except APIError as exc:
            # Already gone (deleted before, aged out): nothing left to stop.
            log.info("cancel_stream_delete_skipped", job_id=job_id, error=str(exc))
