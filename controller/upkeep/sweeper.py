"""Deadlines, reconciliation and retention. I/O: Redis (through the store), NATS.

Every ``interval`` the sweeper first lets the reconciler finish what a dead
controller left half done (controller/upkeep/reconcile.py), then finalizes jobs
whose deadline (plus a short grace for answers in flight) has passed:
silent expected agents end ``timeout`` ("not dispatched" if the job never
was) and the job gets its final status; then it carries on the rolling
rollouts whose time has come (controller/jobs/rollout.py). Once a minute it trims index
entries of jobs older than the retention.

A deadline is enforced only once the collector has folded every agent event
stored before it (controller/upkeep/fold_progress.py): after an outage the answers given
on time are still queued in CORRAL_EVENTS, and timing their agents out would
report a failure that did not happen. While that backlog's head does not
move for ``backlog_wait`` seconds (the collector is stuck, or NATS is
unreachable) the sweeper stops waiting and enforces deadlines anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

import structlog

from controller.jobs.rollout import Rollouts
from controller.metrics import ControllerMetrics
from controller.store.jobs import JobStore
from controller.upkeep.finalize import TIMEOUT_REASON, finalize
from controller.upkeep.fold_progress import FoldProgress
from controller.upkeep.reconcile import NOT_DISPATCHED, Reconciler
from controller.watch.changes import ChangeFeed

log = structlog.get_logger("corral.sweeper")


class Sweeper:
    def __init__(
        self,
        store: JobStore,
        interval: float,
        grace: float = 1.0,
        clock: Callable[[], float] = time.time,
        reconciler: Reconciler | None = None,
        progress: FoldProgress | None = None,
        backlog_wait: float = 120.0,
        feed: ChangeFeed | None = None,
        metrics: ControllerMetrics | None = None,
        rollouts: Rollouts | None = None,
    ) -> None:
        self.rollouts = rollouts
        self.metrics = metrics
        self.store = store
        self.interval = interval
        self.grace = grace
        self.clock = clock
        self.reconciler = reconciler
        self.progress = progress
        self.backlog_wait = backlog_wait
        self.feed = feed
        self._last_trim = 0.0

    async def sweep_once(self) -> int:
        if self.reconciler is not None:
            try:
                await self.reconciler.run_once()
            except Exception as exc:  # noqa: BLE001 - NATS may be down; deadlines still run
                log.warning("reconcile_failed", error=str(exc))
        now = self.clock()
        finished = 0
        for job_id in await self._due(now):
            reconciler = self.reconciler
            reason = TIMEOUT_REASON
            if reconciler is not None:
                reason = await reconciler.deadline_reason(job_id)
            status = await finalize(self.store, job_id, now, deadline_passed=True, reason=reason)
            if reconciler is not None and reason == NOT_DISPATCHED:
                await reconciler.never_dispatched(job_id, status)
            log.info("job_deadline_passed", job_id=job_id, status=status, reason=reason)
            if status is not None:
                await self._tell(job_id, status)
            finished += 1
        if self.rollouts is not None:
            await self.rollouts.sweep(now)
        if now - self._last_trim > 60:
            self._last_trim = now
            await self.store.trim_index(now)
        return finished

    async def _due(self, now: float) -> list[str]:
        """Jobs past their deadline (plus grace) whose agents' stored answers are all folded."""
        try:
            due = await self.store.due(now - self.grace)
        except Exception:
            if self.progress is not None:
                self.progress.forget_stall()
            raise
        if not due or self.progress is None:
            return due
        folded = await self.progress.observe(now)
        if folded >= now - self.grace:
            return due
        stuck = self.progress.stuck_for(now)
        if stuck >= self.backlog_wait:
            log.warning("deadlines_enforced_despite_backlog", stuck=round(stuck, 1), jobs=len(due))
            return due
        ready = await self.store.due(folded - self.grace) if folded > -math.inf else []
        if len(ready) < len(due):
            log.info(
                "deadlines_wait_for_backlog", jobs=len(due) - len(ready), stuck=round(stuck, 1)
            )
        return ready

    async def _tell(self, job_id: str, status: str) -> None:
        """Watchers and metrics learn of a job the deadline finished."""
        if self.feed is None and self.metrics is None:
            return
        meta = await self.store.meta(job_id)
        if self.feed is not None:
            operations = {} if meta is None else {job_id: meta.operation.type}
            await self.feed.publish({job_id: status}, operations)
        if self.metrics is not None and meta is not None:
            self.metrics.job_finished(status, meta.operation.type, meta.created)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception as exc:  # noqa: BLE001 - a Redis outage must not end the sweeper
                log.warning("sweep_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
