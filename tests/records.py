"""Job records as the controller writes them at submit, for tests that write them directly."""

from __future__ import annotations

import uuid

from common.job import CONTROLLER, JobMeta
from common.messages import Operation, Submitted, event_id

PING = Operation(type="test.ping")


def single_host_job(
    host: str, created: float, timeout: float, operation: Operation = PING
) -> tuple[JobMeta, Submitted]:
    """A new job for one host, created at ``created``, and its ``submitted`` event."""
    meta = JobMeta(
        id=str(uuid.uuid4()),
        operation=operation,
        target=host,
        created=created,
        deadline=created + timeout,
        timeout=timeout,
        expected=[host],
        single=True,
    )
    submitted = Submitted(
        event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
        job_id=meta.id,
        hostname=CONTROLLER,
        timestamp=created,
    )
    return meta, submitted
