"""Finishing what a dead or disconnected controller left half done. I/O: Redis, NATS.

Run by the sweeper every interval, on every replica (each step is
idempotent, so replicas racing on one job do no harm):

- a job still *undispatched* a few seconds after it was written (the
  controller died, or NATS failed, between the record and the publish
  acknowledgement) is republished from its stored meta, re-signed, with the
  same ``Nats-Msg-Id`` so JetStream stores it once; once its deadline has
  passed it is left to the sweeper, which fails it like any job past its
  deadline, every silent expected agent ending ``timeout`` with "not
  dispatched", but only once the answers stored before the deadline are
  folded: a controller killed between the publish acknowledgement and the
  dispatched mark leaves a job that *was* dispatched, whose agents may have
  answered on time;
- a cancelled job whose agents may not have been told is told again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from common.job import FINAL_STATUSES
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher
from controller.jobs.sealing import SealError
from controller.store.control import ControlStore
from controller.upkeep.finalize import TIMEOUT_REASON

log = structlog.get_logger("corral.reconcile")
NOT_DISPATCHED = "not dispatched"


class Reconciler:
    def __init__(
        self,
        control: ControlStore,
        dispatcher: Dispatcher,
        canceller: Canceller,
        grace: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.control = control
        self.dispatcher = dispatcher
        self.canceller = canceller
        # How long a fresh job may legitimately sit between record and ack.
        self.grace = grace
        self.clock = clock

    async def run_once(self) -> tuple[int, int]:
        """Returns (jobs republished or failed, cancels re-sent)."""
        now = self.clock()
        fixed = 0
        for job_id in await self.control.undispatched(now - self.grace):
            fixed += await self.redispatch(job_id, now)
        told = 0
        for job_id in await self.control.cancelling(now - self.grace):
            await self.canceller.tell_agents(job_id, now)
            told += 1
        return fixed, told

    async def redispatch(self, job_id: str, now: float) -> int:
        state = await self.control.dispatch_state(job_id)
        if state is None or state.dispatched or state.status in FINAL_STATUSES:
            await self.control.forget_undispatched(job_id)
            return 0
        if now >= state.meta.deadline:
            return 0  # the sweeper's, after the backlog (controller/upkeep/sweeper.py)
        try:
            meta = await self.dispatcher.real_meta(job_id)
        except SealError as exc:
            log.warning("job_republish_impossible", job_id=job_id, error=str(exc))
            return 0
        if meta is not None and await self.dispatcher.dispatch(meta):
            log.info("job_republished", job_id=job_id)
            return 1
        return 0

    async def deadline_reason(self, job_id: str) -> str:
        """Why a job past its deadline failed: never dispatched, or nobody answered."""
        if await self.control.is_undispatched(job_id):
            return NOT_DISPATCHED
        return TIMEOUT_REASON

    async def never_dispatched(self, job_id: str, status: str | None) -> None:
        """The sweeper failed a job that was never dispatched: nothing is left to republish."""
        await self.control.forget_undispatched(job_id)
        log.warning("job_not_dispatched", job_id=job_id, status=status)
