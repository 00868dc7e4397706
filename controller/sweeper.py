"""Deadlines and retention. I/O: Redis (through the store).

Every ``interval`` the sweeper finalizes jobs whose deadline (plus a short
grace for answers in flight) has passed: silent expected agents end
``timeout`` and the job gets its final status. Once a minute it trims
index entries of jobs older than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from controller.store import JobStore

log = structlog.get_logger("corral.sweeper")


class Sweeper:
    def __init__(
        self,
        store: JobStore,
        interval: float,
        grace: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.grace = grace
        self.clock = clock
        self._last_trim = 0.0

    async def sweep_once(self) -> int:
        now = self.clock()
        finished = 0
        for job_id in await self.store.due(now - self.grace):
            status = await self.store.finalize(job_id, now, deadline_passed=True)
            log.info("job_deadline_passed", job_id=job_id, status=status)
            finished += 1
        if now - self._last_trim > 60:
            self._last_trim = now
            await self.store.trim_index(now)
        return finished

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception as exc:  # noqa: BLE001 - a Redis outage must not end the sweeper
                log.warning("sweep_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
