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

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec

from common.config import ApiKey
from common.errors import Forbidden, InvalidRequest, PayloadTooLarge
from common.job import JobMeta
from common.operations.declaration import OperationError
from controller.api.auth import check_operation
from controller.api.bodies import SubmitBody, decode_body, meaning, validate_submission
from controller.api.idempotency import Claim, Idempotency, canonical
from controller.jobs.dispatcher import Dispatcher, Submission
from controller.store.control import ControlStore


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
            submissions.append(validate_submission(job, default_timeout, max_timeout))
    return submissions


def check_operations(key: ApiKey, submissions: Sequence[Submission]) -> None:
    """403 naming the first item whose operation's scope the key lacks."""
    for index, submission in enumerate(submissions):
        try:
            check_operation(key, submission.operation.type)
        except Forbidden as exc:
            raise Forbidden(f"jobs[{index}]: {exc.details}") from None


def fingerprint(submissions: Sequence[Submission]) -> bytes:
    """The batch's meaning, for Idempotency-Key comparison (after validation)."""
    return canonical([meaning(s) for s in submissions])


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
    dispatcher: Dispatcher,
    control: ControlStore,
    idempotency: Idempotency,
    claim: Claim,
    submissions: list[Submission],
) -> tuple[dict[str, Any], bool]:
    """Create the claimed batch, or find the one the key made; (body, replayed)."""
    count = len(submissions)

    async def written(claimed: str) -> bool:
        # Records are written in order: the last one tells the batch is.
        return await control.exists(batch_ids(claimed, count)[-1])

    async def create(claimed: str) -> dict[str, Any]:
        ids = batch_ids(claimed, count)
        await submit_all(dispatcher, submissions, ids)
        return created(ids)

    async def replay(claimed: str) -> dict[str, Any]:
        ids = batch_ids(claimed, count)
        return created(ids, [s or "submitted" for s in await control.statuses(ids)])

    return await idempotency.run(claim, written=written, create=create, replay=replay)
