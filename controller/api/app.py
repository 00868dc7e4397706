"""The HTTP API: a Starlette app from :func:`create_app`. Routes are thin.

Every body is JSON; every error is ``{"error", "details", "code"}`` with
400 bad input, 401 no or bad key, 403 missing scope, 404 unknown, 409
conflict (cancelling a finished job), 413 body too large, 422 an
Idempotency-Key reused with another body, 503 Redis or NATS unreachable,
500 anything else (never a trace). While NATS is disconnected every
authenticated route answers 503 (records would be stale, jobs could not be
sent); while Redis is unreachable every route that needs it does.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.exceptions
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

from common.api import JobList
from common.config import ApiKey, ControllerConfig
from common.errors import (
    BrokerUnavailable,
    Conflict,
    CorralError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
)
from common.job import JOB_STATUSES, JobMeta
from controller.api import batch, live
from controller.api.audit import REFUSED, Auditing, note
from controller.api.auth import Authenticator, check_operation
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
from controller.api.counting import RequestCounter
from controller.api.idempotency import Claim, Idempotency, canonical
from controller.api.operations import operation_routes
from controller.api.views import agent_view, job_item
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher, Submission
from controller.jobs.sealing import SealError
from controller.metrics import ControllerMetrics
from controller.registry import Registry
from controller.store.audit import AuditFilter, AuditLog
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.read_cache import DetailReader
from controller.watch.watchers import Watchers

log = structlog.get_logger("corral.api")
AUDIT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_JSON = msgspec.json.Encoder()


@dataclass
class Services:
    config: ControllerConfig
    store: JobStore
    control: ControlStore
    registry: Registry
    dispatcher: Dispatcher
    canceller: Canceller
    idempotency: Idempotency
    watchers: Watchers
    broker_ready: Callable[[], bool]
    metrics: ControllerMetrics | None = None
    audit: AuditLog | None = None
    auth: Authenticator = field(init=False)
    reader: DetailReader = field(init=False)

    def __post_init__(self) -> None:
        self.auth = Authenticator(self.config.api_keys)
        self.reader = DetailReader(self.store.redis)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_JSON.encode(body), status_code=status, media_type="application/json")


def error_response(title: str, details: str, code: int) -> Response:
    return json_response({"error": title, "details": details, "code": code}, code)


def job_id_param(request: Request) -> str:
    raw = request.path_params["job_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidRequest(f"job id {raw[:80]!r} is not a UUID") from None


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) before buffering more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isdigit() alone takes "²", which int() does not.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: must be an integer from {low} to {high}")
    return int(raw)


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def caller(request: Request, scope: str | None) -> tuple[Services, ApiKey]:
    """The app's services and the caller's key, once it proved it holds ``scope``
    (None: authenticated only; a submit then checks its operation's scope).

    503 while NATS is disconnected: nothing can be sent and records may lag.
    """
    services = services_of(request)
    if scope is None:
        key = services.auth.authenticate(request)
    else:
        key = services.auth.require(request, scope)
    if not services.broker_ready():
        raise BrokerUnavailable("NATS is unreachable; retry later")
    return services, key


def authorize(request: Request, scope: str) -> Services:
    return caller(request, scope)[0]


async def submit_job(request: Request) -> Response:
    """Submit a job; with ``?wait=<seconds>``, answer once it is final (controller/watch/)."""
    svc, key = caller(request, None)
    wait = wait_param(request, svc.config.max_timeout)
    body = await read_body(request, svc.config.max_body_bytes)
    submission = validate_submit(body, svc.config.default_timeout, svc.config.max_timeout)
    check_operation(key, submission.operation.type)
    idem = request.headers.get("idempotency-key")
    if idem is None:
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
    return await when_final(svc, str(created["job_id"]), wait, replayed)


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
    if await svc.watchers.final(job_id, wait) is None:
        status = await svc.control.status(job_id) or "submitted"
        return json_response({"job_id": job_id, "status": status}, 202)
    detail = await svc.reader.body(job_id)
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


def created_response(body: Any, replayed: bool) -> Response:
    """201 for what this request created, 200 marked replayed for what the key had made."""
    response = json_response(body, 200 if replayed else 201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def list_jobs(request: Request) -> Response:
    svc = authorize(request, "job:read")
    status = request.query_params.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise InvalidRequest(f"status: must be one of {', '.join(JOB_STATUSES)}")
    limit = int_param(request, "limit", 20, 1, 100)
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    total, counts, items = await svc.store.listing(status, limit, offset)
    return json_response(
        JobList(total_items=total, status_counts=counts, items=[job_item(i) for i in items])
    )


async def get_job(request: Request) -> Response:
    svc = authorize(request, "job:read")
    job_id = job_id_param(request)
    # Already the encoded body (controller/store/read_cache.py): no re-encoding here.
    body = await svc.reader.body(job_id)
    if body is None:
        raise NotFound(f"no job with id {job_id}")
    return Response(body, media_type="application/json")


async def job_events(request: Request) -> Response:
    """The job's live progress as Server-Sent Events (controller/api/live.py)."""
    svc = authorize(request, "job:read")
    return await live.job_events_response(svc.store, svc.watchers, job_id_param(request), request)


async def all_events(request: Request) -> Response:
    """Status changes of every job as Server-Sent Events, filtered by status and operation."""
    svc = authorize(request, "job:read")
    statuses, operation = live.firehose_filters(request)
    return live.stream_response(live.firehose(svc.store, svc.watchers, statuses, operation))


async def delete_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    note(request, job_id=job_id)
    if not await svc.store.delete(job_id):
        raise NotFound(f"no job with id {job_id}")
    return Response(status_code=204)


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
    )


async def cancel_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    note(request, job_id=job_id)
    await svc.canceller.cancel(job_id)
    return json_response({"job_id": job_id, "status": "cancelled"}, 202)


async def read_audit(request: Request) -> Response:
    """The audit log, newest first, filtered, a page at a time (``before`` = ``next``)."""
    svc = authorize(request, "audit:read")
    if svc.audit is None:
        raise NotFound("this controller keeps no audit log", title="Not found.")
    wanted = AuditFilter(
        key=request.query_params.get("key") or None,
        route=request.query_params.get("route") or None,
        status=int_param(request, "status", 0, 100, 599) or None,
        job_id=request.query_params.get("job_id") or None,
    )
    before = request.query_params.get("before") or None
    if before is not None and not AUDIT_ID.fullmatch(before):
        raise InvalidRequest("before: must be an entry id from this log (like 1700000000000-0)")
    limit = int_param(request, "limit", 50, 1, 500)
    entries, cursor = await svc.audit.read(wanted, limit, before)
    return json_response({"items": entries, "next": cursor})


async def list_agents(request: Request) -> Response:
    svc = authorize(request, "agent:read")
    await svc.store.ping()  # the registry is in memory; still 503 while Redis is down
    registry = svc.registry
    now = time.time()
    agents = sorted(registry.agents.values(), key=lambda r: r.hostname)
    items = [agent_view(r, registry.state_of(r, now)) for r in agents]
    return json_response({"total_items": len(items), "items": items})


async def get_agent(request: Request) -> Response:
    svc = authorize(request, "agent:read")
    await svc.store.ping()
    registry = svc.registry
    hostname = request.path_params["hostname"]
    record = registry.agents.get(hostname)
    if record is None:
        raise NotFound(f"no agent named {hostname[:253]!r}", title="Agent not found.")
    return json_response(agent_view(record, registry.state_of(record, time.time())))


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    svc = services_of(request)
    checks = {"nats": "ok" if svc.broker_ready() else "unreachable"}
    try:
        await svc.store.ping()
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = "unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return json_response(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, 200 if healthy else 503
    )


ROUTES = [
    Route("/job", submit_job, methods=["POST"]),
    Route("/job", list_jobs, methods=["GET"]),
    # Before /job/{job_id}: "batch" is never a job id (ids are UUIDs).
    Route("/job/batch", submit_batch, methods=["POST"]),
    Route("/job/{job_id}", get_job, methods=["GET"]),
    Route("/job/{job_id}/events", job_events, methods=["GET"]),
    Route("/events", all_events, methods=["GET"]),
    Route("/job/{job_id}", delete_job, methods=["DELETE"]),
    Route("/job/{job_id}/retry", retry_job, methods=["POST"]),
    Route("/job/{job_id}/cancel", cancel_job, methods=["POST"]),
    Route("/audit", read_audit, methods=["GET"]),
    *operation_routes(authorize),
    Route("/agent", list_agents, methods=["GET"]),
    Route("/agent/{hostname}", get_agent, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]


def create_app(services: Services, lifespan: Lifespan[Any] | None = None) -> Starlette:
    middleware = []
    if services.metrics is not None:
        middleware.append(Middleware(RequestCounter, requests=services.metrics.requests))
    if services.audit is not None:
        middleware.append(Middleware(Auditing, audit=services.audit))
    app = Starlette(
        routes=ROUTES, exception_handlers=_handlers(), lifespan=lifespan, middleware=middleware
    )
    app.state.services = services
    return app


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _handlers() -> dict[Any, Handler]:
    async def corral_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CorralError)
        if exc.code in REFUSED:
            note(request, details=exc.details or exc.title)  # why the key was refused
        return error_response(exc.title, exc.details or exc.title, exc.code)

    async def store_down(request: Request, exc: Exception) -> Response:
        log.warning("store_unreachable", error=str(exc))
        down = StoreUnavailable()
        return error_response(down.title, "Redis is unreachable; retry later", down.code)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = error_response(
            exc.detail, f"{request.method} {request.url.path}", exc.status_code
        )
        response.headers.update(exc.headers or {})  # e.g. a 405's Allow
        return response

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("request_failed", path=request.url.path, error=repr(exc))
        return error_response("Internal error.", "the controller failed; see its log", 500)

    return {
        CorralError: corral_error,
        redis.exceptions.ConnectionError: store_down,
        redis.exceptions.TimeoutError: store_down,
        HTTPException: http_error,
        Exception: unexpected,
    }
