"""Routes that create jobs: ``POST /job`` (with ``?wait=``), ``/job/batch``, ``/job/{id}/retry``.

I/O: Redis and NATS, through the dispatcher and the idempotency keys.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from common.config import ControllerConfig
from common.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
)
from common.job import FINAL_STATUSES, JobMeta
from controller.api import batch
from controller.api.audit import note, write_early
from controller.api.auth import check_operation
from controller.api.batch import fingerprint, validate_batch
from controller.api.bodies import (
    RetryBody,
    check_publishable,
    check_target,
    check_timeout,
    decode_body,
    meaning,
    validate_submit,
)
from controller.api.http import (
    Services,
    caller,
    created_response,
    job_id_param,
    json_response,
    read_body,
)
from controller.api.idempotency import Claim, canonical
from controller.jobs.dispatcher import Submission
from controller.jobs.sealing import SealError
from controller.watch.watchers import Final


async def submit_job(request: Request) -> Response:
    """Submit a job; with ``?wait=<seconds>``, answer once it is final (controller/watch/)."""
    svc, key = caller(request, None)
    wait = wait_param(request, svc.config.max_timeout)
    body = await read_body(request, svc.config.max_body_bytes)
    submission = validate_submit(body, svc.config.default_timeout, svc.config.max_timeout)
    check_operation(key, submission.operation.type)
    idem = request.headers.get("idempotency-key")
    if idem is None:
        if wait is not None:
            return await submit_and_wait(request, svc, submission, wait)
        meta = await svc.dispatcher.submit(submission)
        created, replayed = {"job_id": meta.id, "status": "submitted"}, False
    else:
        claim = await svc.idempotency.claim(
            f"submit:{key.name}", check_idem(idem), canonical(meaning(submission))
        )
        created, replayed = await submit_claimed(svc, claim, submission, None, {})
    note(request, job_id=str(created["job_id"]), target=str(submission.target))
    if wait is None:
        return created_response(created, replayed)
    write_early(request, svc.audit, 200 if replayed else 201)  # the job exists: say so now
    return await when_final(svc, str(created["job_id"]), wait, replayed)


async def submit_and_wait(
    request: Request, svc: Services, submission: Submission, wait: float
) -> Response:
    """A new job's detail once it is final: its waiter registered before the job
    exists, so the collector always finds it and nothing is read twice."""
    job_id = str(uuid.uuid4())
    with svc.watchers.awaiting(job_id) as future:
        await svc.dispatcher.submit(submission, job_id=job_id)
        note(request, job_id=job_id, target=str(submission.target))
        write_early(request, svc.audit, 201)  # the job exists: say so now
        final = await svc.watchers.within(future, wait)
    return await answer_final(svc, job_id, final, replayed=False)


def wait_param(request: Request, most: float) -> float | None:
    raw = request.query_params.get("wait")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= most:  # also refuses nan
        raise InvalidRequest(f"wait: must be a number of seconds from 0 to {most:g}")
    return seconds


async def when_final(svc: Services, job_id: str, wait: float, replayed: bool) -> Response:
    """The job's detail once it is final (201, or 200 for a replay); 202 if ``wait`` runs out."""
    final = await svc.watchers.final(job_id, wait)
    return await answer_final(svc, job_id, final, replayed=replayed)


async def answer_final(
    svc: Services, job_id: str, final: Final | None, *, replayed: bool
) -> Response:
    """The answer to a wait that ended with ``final`` (None: it ran out)."""
    if final is None:
        status = await svc.control.status(job_id) or "submitted"
        if status not in FINAL_STATUSES:
            return json_response({"job_id": job_id, "status": status}, 202)
        final = Final(status)  # final by now, its wake-up lost: answered all the same
    # Read back by the collector here with the change, or read now.
    detail = final.body or await svc.reader.changed_body(job_id)
    if detail is None:  # deleted meanwhile
        raise NotFound(f"no job with id {job_id}")
    response = Response(detail, status_code=200 if replayed else 201, media_type="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def submit_batch(request: Request) -> Response:
    """Many jobs at once, all-or-nothing validation (controller/api/batch.py)."""
    svc, key = caller(request, None)
    cfg = svc.config
    raw = await read_body(request, cfg.max_body_bytes)
    jobs = validate_batch(raw, cfg.default_timeout, cfg.max_timeout, cfg.max_batch_jobs)
    batch.check_operations(key, jobs)
    targets = ",".join(sorted({str(job.target) for job in jobs}))
    note(request, details=f"{len(jobs)} jobs", target=targets)
    idem = request.headers.get("idempotency-key")
    if idem is None:
        metas = await batch.submit_all(svc.dispatcher, jobs)
        return json_response(batch.created([m.id for m in metas]), 201)
    claim = await svc.idempotency.claim(f"batch:{key.name}", check_idem(idem), fingerprint(jobs))
    body, replayed = await batch.submit_claimed(
        svc.dispatcher, svc.control, svc.idempotency, claim, jobs
    )
    return created_response(body, replayed)


def check_idem(value: str) -> str:
    if not 1 <= len(value) <= 255 or not value.isprintable():
        raise InvalidRequest("Idempotency-Key: 1 to 255 printable characters")
    return value


async def submit_claimed(
    svc: Services,
    claim: Claim,
    submission: Submission,
    retry_of: str | None,
    extra: dict[str, str],
) -> tuple[dict[str, Any], bool]:
    """Create the claimed job, or find the one the key already made: (body, replayed)."""

    async def create(job_id: str) -> dict[str, Any]:
        meta = await svc.dispatcher.submit(submission, retry_of=retry_of, job_id=job_id)
        return {"job_id": meta.id, "status": "submitted", **extra}

    async def replay(job_id: str) -> dict[str, Any]:
        status = await svc.control.status(job_id) or "submitted"
        return {"job_id": job_id, "status": status, **extra}

    return await svc.idempotency.run(
        claim, written=svc.control.exists, create=create, replay=replay
    )


async def retry_job(request: Request) -> Response:
    """Submit a job again; idempotent per source job and body (controller/api/idempotency.py)."""
    svc, key = caller(request, "job:write")
    job_id = job_id_param(request)
    note(request, details=f"retry of {job_id}")
    raw = await read_body(request, svc.config.max_body_bytes)
    body = decode_body(raw, RetryBody) if raw.strip() else RetryBody()
    try:
        meta = await svc.dispatcher.real_meta(job_id)
    except SealError:
        raise Conflict(
            "its secret values were sealed with a signing key since rotated; submit it again",
            title="job cannot be retried",
        ) from None
    if meta is None:
        raise NotFound(f"no job with id {job_id}")
    check_operation(key, meta.operation.type)
    submission = retry_submission(svc.config, meta, body)
    fingerprint = canonical(
        {"retry_of": job_id, "target": str(submission.target), "timeout": submission.timeout}
    )
    idem = request.headers.get("idempotency-key")
    if idem is None:
        scope, name = "retry", f"{job_id}:{fingerprint.decode()}"
    else:
        scope, name = f"retry:{key.name}", check_idem(idem)
    claim = await svc.idempotency.claim(scope, name, fingerprint)
    created, replayed = await submit_claimed(svc, claim, submission, job_id, {"retry_of": job_id})
    note(request, job_id=str(created["job_id"]), target=str(submission.target))
    return created_response(created, replayed)


def retry_submission(config: ControllerConfig, source: JobMeta, body: RetryBody) -> Submission:
    """The source job's real operation with the body's target and timeout, checked as a
    submit is: a longer target can push the signed job over the message limit (413)."""
    target = check_target(body.target or source.target)
    check_publishable(source.operation, str(target))
    timeout = source.timeout if body.timeout is None else body.timeout
    return Submission(
        operation=source.operation,
        target=target,
        timeout=check_timeout(timeout, config.default_timeout, config.max_timeout),
        dry_run=source.dry_run,
        # A retry of a rollout rolls out again, unless it targets one host.
        rollout=source.rollout if target.is_broadcast else None,
    )
