"""What every route shares: services, JSON answers, parameters, the caller's key. I/O: HTTP.

Errors are raised as common.errors exceptions and rendered by the app's
handlers (controller/api/app.py) as ``{error, details, code}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.js.object_store import ObjectStore
from starlette.requests import Request
from starlette.responses import Response

from common.config import ApiKey, ControllerConfig
from common.errors import (
    BrokerUnavailable,
    InvalidRequest,
    PayloadTooLarge,
)
from controller.api.auth import Authenticator
from controller.api.idempotency import Idempotency
from controller.drains import Drains
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher
from controller.metrics import ControllerMetrics
from controller.registry import Registry
from controller.store.audit import AuditLog
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.read_cache import DetailReader
from controller.watch.watchers import Watchers

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
    drains: Drains
    broker_ready: Callable[[], bool]
    metrics: ControllerMetrics | None = None
    audit: AuditLog | None = None
    objects: ObjectStore | None = None  # deploy content (controller/api/objects.py)
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


def created_response(body: Any, replayed: bool) -> Response:
    """201 for what this request created, 200 marked replayed for what the key had made."""
    response = json_response(body, 200 if replayed else 201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
