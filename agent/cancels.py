"""Signed cancel requests, from one subscription to the runtimes of a process. I/O: NATS.

The controller sends every cancel request to every agent on core NATS
(``corral.control.cancel``). An agent process listens with its one runtime;
a swarm (bench/swarm.py) with all of its virtual agents' runtimes, which
share one set of cancelled job ids. Either way a request is verified once
and remembered once, in memory and before anything is awaited, since a job
about to start checks that set; then each runtime stops the job if it runs
it and journals the cancel, so a later delivery of the job is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from agent.runtime import Runtime
from common import subjects

log = structlog.get_logger("corral.agent")


class Cancels:
    """Cancel requests for ``runtimes``, which share one set of cancelled job ids."""

    def __init__(self, runtimes: Sequence[Runtime]) -> None:
        if not runtimes:
            raise ValueError("cancels need at least one runtime")
        first = runtimes[0]
        if any(runtime.cancelled is not first.cancelled for runtime in runtimes):
            raise ValueError("the runtimes must share one set of cancelled job ids")
        self.runtimes = tuple(runtimes)

    async def request(self, data: bytes) -> None:
        """One signed cancel request: refused (counted once), or the job stopped everywhere."""
        first = self.runtimes[0]
        job_id = first.cancel_request(data)
        if job_id is None:
            return
        first.remember_cancel(job_id)
        for runtime in self.runtimes:
            await runtime.cancel_job(job_id)

    async def on_message(self, msg: Msg) -> None:
        try:
            await self.request(msg.data)
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the subscription
            log.error("cancel_failed", error=repr(exc))


@contextlib.asynccontextmanager
async def listening(nc: NATS, runtimes: Sequence[Runtime]) -> AsyncIterator[Cancels]:
    """Cancel requests reach ``runtimes`` while the block runs."""
    cancels = Cancels(runtimes)
    subscription = await nc.subscribe(subjects.CANCEL, cb=cancels.on_message)
    try:
        yield cancels
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
