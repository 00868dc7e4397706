"""The change feed: which jobs a write just changed, told to every controller. I/O: NATS.

Whoever changes a job record (the collector's batch, a finalize, a cancel)
publishes one core NATS message on ``corral.watch.jobs`` naming the jobs it
changed and their status after the change: one message per batch, not per
event, never awaited. Waiters and watchers in any controller replica learn
from it without polling Redis; with nobody subscribed the server drops it.
A lost message costs a waiter only its wake-up: it still reads the record
itself (controller/watch/watchers.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from nats.aio.client import Client as NATS

from common import subjects
from common.messages import ENCODER, JobsChanged

log = structlog.get_logger("corral.watch")


class ChangeFeed:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc

    async def publish(
        self, jobs: Mapping[str, str], operations: Mapping[str, str] | None = None
    ) -> None:
        """Tell watchers that ``jobs`` (id -> status) changed, with the operation types
        the caller knows (id -> type); never raises."""
        if not jobs:
            return
        told = JobsChanged(jobs=dict(jobs), operations=dict(operations or {}))
        try:
            await self.nc.publish(subjects.JOB_CHANGES, ENCODER.encode(told))
        except Exception as exc:  # noqa: BLE001 - the write is done; only a wake-up is lost
            log.warning("job_changes_not_sent", jobs=len(jobs), error=str(exc))
