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
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

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
from common.job import JOB_STATUSES
from controller.api import batch
from controller.api.auth import Authenticator, check_operation
from controller.api.batch import fingerprint, validate_batch
from controller.api.bodies import (
    RetryBody,
    check_target,
    check_timeout,
    decode_body,
    meaning,
    validate_submit,
)
from controller.api.idempotency import Claim, Idempotency, canonical
from controller.api.operations import operation_routes
from controller.api.views import JobList, agent_view, job_item
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher, Submission
from controller.jobs.sealing import SealError
from controller.registry import Registry
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.read_cache import DetailReader

log = structlog.get_logger("corral.api")
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
    broker_ready: Callable[[], bool]
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
    svc, key = caller(request, None)
    body = await read_body(request, svc.config.max_body_bytes)
    submission = validate_submit(body, svc.config.default_timeout, svc.config.max_timeout)
    check_operation(key, submission.operation.type)
    idem = request.headers.get("idempotency-key")
    if idem is None:
        meta = await svc.dispatcher.submit(submission)
        return json_response({"job_id": meta.id, "status": "submitted"}, 201)
    claim = await svc.idempotency.claim(
        f"submit:{key.name}", check_idem(idem), canonical(meaning(submission))
    )
    return await submit_claimed(svc, claim, submission, None, {})


async def submit_batch(request: Request) -> Response:
    """Many jobs at once, all-or-nothing validation (controller/api/batch.py)."""
    svc, key = caller(request, None)
    cfg = svc.config
    raw = await read_body(request, cfg.max_body_bytes)
    jobs = validate_batch(raw, cfg.default_timeout, cfg.max_timeout, cfg.max_batch_jobs)
    batch.check_operations(key, jobs)
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
) -> Response:
    """Create the claimed job (201), or answer with the one the key already made (200)."""

    async def create(job_id: str) -> dict[str, Any]:
        meta = await svc.dispatcher.submit(submission, retry_of=retry_of, job_id=job_id)
        return {"job_id": meta.id, "status": "submitted", **extra}

    async def replay(job_id: str) -> dict[str, Any]:
        status = await svc.control.status(job_id) or "submitted"
        return {"job_id": job_id, "status": status, **extra}

    body, replayed = await svc.idempotency.run(
        claim, written=svc.control.exists, create=create, replay=replay
    )
    return created_response(body, replayed)


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


async def delete_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    if not await svc.store.delete(job_id):
        raise NotFound(f"no job with id {job_id}")
    return Response(status_code=204)


async def retry_job(request: Request) -> Response:
    """Submit a job again; idempotent per source job and body (controller/api/idempotency.py)."""
    svc, key = caller(request, "job:write")
    job_id = job_id_param(request)
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
    submission = Submission(
        operation=meta.operation,
        target=check_target(body.target or meta.target),
        timeout=check_timeout(
            meta.timeout if body.timeout is None else body.timeout,
            svc.config.default_timeout,
            svc.config.max_timeout,
        ),
        dry_run=meta.dry_run,
    )
    fingerprint = canonical(
        {"retry_of": job_id, "target": str(submission.target), "timeout": submission.timeout}
    )
    idem = request.headers.get("idempotency-key")
    if idem is None:
        scope, name = "retry", f"{job_id}:{fingerprint.decode()}"
    else:
        scope, name = f"retry:{key.name}", check_idem(idem)
    claim = await svc.idempotency.claim(scope, name, fingerprint)
    return await submit_claimed(svc, claim, submission, job_id, {"retry_of": job_id})


async def cancel_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    await svc.canceller.cancel(job_id)
    return json_response({"job_id": job_id, "status": "cancelled"}, 202)


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
    Route("/job/{job_id}", delete_job, methods=["DELETE"]),
    Route("/job/{job_id}/retry", retry_job, methods=["POST"]),
    Route("/job/{job_id}/cancel", cancel_job, methods=["POST"]),
    *operation_routes(authorize),
    Route("/agent", list_agents, methods=["GET"]),
    Route("/agent/{hostname}", get_agent, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]


def create_app(services: Services, lifespan: Lifespan[Any] | None = None) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers=_handlers(), lifespan=lifespan)
    app.state.services = services
    return app


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _handlers() -> dict[Any, Handler]:
    async def corral_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CorralError)
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
