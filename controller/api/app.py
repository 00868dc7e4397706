"""The HTTP API: a Starlette app from :func:`create_app`, its routes and error handlers.

The routes live by concern: submits.py (creating jobs), jobs.py (reading
and ending them), agents.py, audit_view.py, operations.py; http.py holds
what they share.

Every body is JSON; every error is ``{"error", "details", "code"}`` with
400 bad input, 401 no or bad key, 403 missing scope, 404 unknown, 409
conflict (cancelling a finished job), 413 body too large, 422 an
Idempotency-Key reused with another body, 503 Redis or NATS unreachable,
500 anything else (never a trace). While NATS is disconnected every
authenticated route answers 503 (records would be stale, jobs could not be
sent); while Redis is unreachable every route that needs it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.exceptions import RedisClusterException
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

from common.errors import (
    CorralError,
    StoreUnavailable,
)
from controller.api import agents, audit_view, http, jobs, objects, openapi, submits
from controller.api.audit import MUTATING, REFUSED, Auditing, note, write
from controller.api.counting import RequestCounter
from controller.api.http import Services, error_response, json_response, services_of
from controller.api.operations import operation_routes
from controller.console.app import console_routes
from controller.console.sessions import with_session
from controller.store.redis import UNAVAILABLE_ERRORS, unavailable

log = structlog.get_logger("corral.api")


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def openapi_json(request: Request) -> Response:
    return json_response(openapi.document())


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
    Route("/job", submits.submit_job, methods=["POST"]),
    Route("/job", jobs.list_jobs, methods=["GET"]),
    # Before /job/{job_id}: "batch" is never a job id (ids are UUIDs).
    Route("/job/batch", submits.submit_batch, methods=["POST"]),
    Route("/job/{job_id}", jobs.get_job, methods=["GET"]),
    # EventSource sends no header: the console's session cookie stands in here.
    Route("/job/{job_id}/events", with_session(jobs.job_events), methods=["GET"]),
    Route("/events", jobs.all_events, methods=["GET"]),
    Route("/job/{job_id}", jobs.delete_job, methods=["DELETE"]),
    Route("/job/{job_id}/retry", submits.retry_job, methods=["POST"]),
    Route("/job/{job_id}/cancel", jobs.cancel_job, methods=["POST"]),
    Route("/audit", audit_view.read_audit, methods=["GET"]),
    *operation_routes(http.authorize),
    Route("/agent", agents.list_agents, methods=["GET"]),
    *objects.ROUTES,
    Route("/agent/{hostname}", agents.get_agent, methods=["GET"]),
    Route("/agent/{hostname}/drain", agents.drain_agent, methods=["POST"]),
    Route("/agent/{hostname}/undrain", agents.undrain_agent, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    *console_routes(),  # the web console at /ui (controller/console/)
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
            audit = services_of(request).audit
            if audit is not None and request.method not in MUTATING:
                await write(audit, request.scope, exc.code)  # Auditing sees only writes
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

    async def cluster_error(request: Request, exc: Exception) -> Response:
        return await (store_down if unavailable(exc) else unexpected)(request, exc)

    return {
        CorralError: corral_error,
        **dict.fromkeys(UNAVAILABLE_ERRORS, store_down),
        RedisClusterException: cluster_error,  # an outage, or a bug (500)
        HTTPException: http_error,
        Exception: unexpected,
    }
