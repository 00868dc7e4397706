"""``POST /job/batch``: many jobs in one request. I/O: Redis and NATS (through the dispatcher).

The body is ``{"jobs": [<a POST /job body>, ...]}``, 1 to ``max_batch_jobs``
items. Validation is all-or-nothing: every item is validated (fields,
operation params, target resolved against the registry) before any job is
written, and the first bad item is a 400 naming it (``jobs[3].timeout:
...``); nothing was created, so the fixed batch can simply be sent again.
The accepted jobs are committed together (controller/jobs/group_commit.py): one Redis
pipeline, N publishes acked together, one pipeline of dispatched marks.

With an ``Idempotency-Key`` the batch is idempotent as a whole, as a single
submit is (controller/api/idempotency.py): the claimed id is the namespace of
the batch's job ids (``uuid5(claimed, index)``), so the same key and body
answer 200 with the same ids in the same order and their current statuses.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from common.errors import InvalidRequest, PayloadTooLarge
from common.job import JobMeta
from common.messages import Operation
from common.operations import OperationError, validate_params
from controller.api.bodies import (
    Submission,
    SubmitBody,
    check_publishable,
    check_target,
    check_timeout,
    decode_body,
)
from controller.api.idempotency import Claim, Idempotency, canonical
from controller.jobs.dispatcher import Dispatcher
from controller.store.keys import job_key


class BatchBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    jobs: list[SubmitBody]


@contextmanager
def item(index: int) -> Iterator[None]:
    """Name the batch item in any 400 raised inside: ``jobs[3].target: ...``."""
    try:
        yield
    except OperationError as exc:
        text = str(exc)
        where = "" if text.startswith("operation.") else "operation.type: "
        raise InvalidRequest(f"jobs[{index}].{where}{text}") from None
    except InvalidRequest as exc:
        raise InvalidRequest(f"jobs[{index}].{exc.details}") from None
    except PayloadTooLarge as exc:
        raise PayloadTooLarge(f"jobs[{index}].{exc.details}") from None


def validate_batch(
    raw: bytes, default_timeout: float, max_timeout: float, max_jobs: int
) -> list[Submission]:
    body: BatchBody = decode_body(raw, BatchBody)
    if not 1 <= len(body.jobs) <= max_jobs:
        raise InvalidRequest(f"jobs: must hold 1 to {max_jobs} jobs, got {len(body.jobs)}")
    submissions = []
    for index, job in enumerate(body.jobs):
        with item(index):
            validate_params(job.operation.type, job.operation.data)
            operation = Operation(type=job.operation.type, data=job.operation.data)
            check_publishable(operation, job.target)
            submissions.append(
                Submission(
                    operation=operation,
                    target=check_target(job.target),
                    timeout=check_timeout(job.timeout, default_timeout, max_timeout),
                )
            )
    return submissions


def fingerprint(submissions: Sequence[Submission]) -> bytes:
    """The batch's meaning, for Idempotency-Key comparison (after validation)."""
    return canonical(
        [
            {
                "operation": {"type": s.operation.type, "data": s.operation.data},
                "target": str(s.target),
                "timeout": s.timeout,
            }
            for s in submissions
        ]
    )


def batch_ids(claimed: str, count: int) -> list[str]:
    namespace = uuid.UUID(claimed)
    return [str(uuid.uuid5(namespace, str(index))) for index in range(count)]


async def submit_all(
    dispatcher: Dispatcher, submissions: Sequence[Submission], job_ids: Sequence[str] | None = None
) -> list[JobMeta]:
    """Prepare every job (any 400 names its item), then commit them all."""
    dispatcher.require_broker()
    ids: Sequence[str | None] = job_ids or [None] * len(submissions)
    jobs = []
    for index, (submission, job_id) in enumerate(zip(submissions, ids, strict=True)):
        with item(index):
            jobs.append(dispatcher.prepare(submission, job_id))
    return await dispatcher.commit_all(jobs)


def created(job_ids: Sequence[str], statuses: Sequence[str] | None = None) -> dict[str, Any]:
    states = statuses or ["submitted"] * len(job_ids)
    return {"jobs": [{"job_id": j, "status": s} for j, s in zip(job_ids, states, strict=True)]}


async def submit_claimed(
    dispatcher: Dispatcher, idempotency: Idempotency, claim: Claim, submissions: list[Submission]
) -> tuple[dict[str, Any], bool]:
    """Create the claimed batch, or find the one the key made; (body, replayed)."""
    while not claim.fresh:
        ids = batch_ids(claim.job_id, len(submissions))
        if await idempotency.settled(claim, last_written(dispatcher, ids)):
            return created(ids, await statuses(dispatcher, ids)), True
        claim = await idempotency.claim_again(claim)
    ids = batch_ids(claim.job_id, len(submissions))
    try:
        await submit_all(dispatcher, submissions, ids)
    except BaseException:
        with contextlib.suppress(Exception):  # a stale claim is taken back later anyway
            await idempotency.release(claim)
        raise
    return created(ids), False


def last_written(dispatcher: Dispatcher, ids: Sequence[str]) -> Callable[[str], Awaitable[bool]]:
    """Whether the batch is written: its records go in order, so the last one tells."""

    async def exists(_: str) -> bool:
        return await dispatcher.control.exists(ids[-1])

    return exists


async def statuses(dispatcher: Dispatcher, job_ids: Sequence[str]) -> list[str]:
    async with dispatcher.store.redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(job_key(job_id), "status")
        found = await pipe.execute()
    return [s.decode() if isinstance(s, bytes) else "submitted" for s in found]
