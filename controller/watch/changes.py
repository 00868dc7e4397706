"""The change feed: which jobs a write just changed, told to every controller. I/O: NATS.

Whoever changes a job record (the collector's batch, a finalize, a cancel)
publishes one core NATS message on ``corral.watch.jobs`` naming the jobs it
changed and their status after the change: one message per batch, not per
event, never awaited. Waiters and watchers in any controller replica learn
from it without polling Redis; with nobody subscribed the server drops it.
A lost message costs a waiter only its wake-up: it still reads the record
itself (controller/watch/watchers.py).

The writer's own process is told first, directly: its waiters need not wait
for the message's trip through nats-server, and they ignore its echo (the
message names the process it came from). Only they can be handed the final
details the writer read back for them (:meth:`ChangeFeed.waited`); the
message names jobs and statuses, never details.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import structlog
from nats.aio.client import Client as NATS

from common import subjects
from common.messages import ENCODER, JobsChanged

log = structlog.get_logger("corral.watch")


class Listener(Protocol):
    """This process's watchers (controller/watch/watchers.py)."""

    origin: str  # names this process in the messages it sends

    def waited(self, job_ids: Iterable[str]) -> list[str]: ...

    async def take(
        self, changed: JobsChanged, bodies: Mapping[str, bytes] | None = None
    ) -> None: ...


class ChangeFeed:
    def __init__(self, nc: NATS, local: Listener | None = None) -> None:
        """``local``: told of every change here, before the other processes are."""
        self.nc = nc
        self.local = local

    def waited(self, job_ids: Iterable[str]) -> list[str]:
        """Those of ``job_ids`` a request in this process waits for: a writer that
        reads them back after its write hands their details over with the change."""
        return [] if self.local is None else self.local.waited(job_ids)

    async def publish(
        self,
        jobs: Mapping[str, str],
        operations: Mapping[str, str] | None = None,
        bodies: Mapping[str, bytes] | None = None,
    ) -> None:
        """Tell watchers that ``jobs`` (id -> status) changed, with the operation types
        the caller knows (id -> type) and the final details it read back for this
        process's waiters (id -> encoded detail); never raises."""
        if not jobs:
            return
        origin = "" if self.local is None else self.local.origin
        told = JobsChanged(jobs=dict(jobs), operations=dict(operations or {}), origin=origin)
        if self.local is not None:
            try:
                await self.local.take(told, bodies)  # may look an operation up in Redis
            except Exception as exc:  # noqa: BLE001 - as below: only a wake-up is lost
                log.warning("job_changes_not_taken", jobs=len(jobs), error=str(exc))
        try:
            await self.nc.publish(subjects.JOB_CHANGES, ENCODER.encode(told))
        except Exception as exc:  # noqa: BLE001 - the write is done; only a wake-up is lost
            log.warning("job_changes_not_sent", jobs=len(jobs), error=str(exc))
