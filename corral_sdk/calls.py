"""Every API call, described once: method, path, body, and how its answer decodes. Pure.

The sync and the async client (corral_sdk/client.py, corral_sdk/aio.py) only
send a :class:`Call` and hand its answer to :meth:`Call.parse`, so a route is
written here once, whichever client runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from common.api import (
    Accepted,
    AgentList,
    AgentView,
    AuditPage,
    Batch,
    ErrorBody,
    HealthAnswer,
    JobList,
    ObjectList,
    ObjectStored,
    ObjectView,
    OperationList,
    OperationView,
    ReadyAnswer,
)
from common.detail import JobDetail
from common.rollout import Rollout
from corral_sdk.errors import ApiError, error_for

Result = TypeVar("Result")
_ERROR = msgspec.json.Decoder(ErrorBody)


@dataclass(frozen=True)
class Call(Generic[Result]):
    method: str
    path: str
    decode: Callable[[int, bytes], Result]
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    wait: float = 0.0  # seconds the server may hold the answer back
    content: bytes | None = None  # a raw body, sent instead of ``json``

    def parse(self, status: int, body: bytes) -> Result:
        if status >= 400:
            raise error_of(status, body)
        return self.decode(status, body)


def error_of(status: int, body: bytes) -> ApiError:
    """The exception an error answer stands for."""
    try:
        found = _ERROR.decode(body)
    except msgspec.DecodeError:
        return error_for(status, "not a corral error body", body[:200].decode(errors="replace"))
    return error_for(status, found.error, found.details)


def _as(kind: type[Result]) -> Callable[[int, bytes], Result]:
    decoder = msgspec.json.Decoder(kind)
    return lambda status, body: decoder.decode(body)


def _nothing(status: int, body: bytes) -> None:
    return None


def _detail_or_accepted(status: int, body: bytes) -> JobDetail | Accepted:
    if status == 202:
        return msgspec.json.decode(body, type=Accepted)
    return msgspec.json.decode(body, type=JobDetail)


def job_body(
    operation: str,
    data: dict[str, Any] | None = None,
    target: str = "_any",
    timeout: float | None = None,
    dry_run: bool = False,
    rollout: Rollout | None = None,
) -> dict[str, Any]:
    """A ``POST /job`` body; also one item of a batch."""
    body: dict[str, Any] = {"operation": {"type": operation, "data": data or {}}, "target": target}
    if timeout is not None:
        body["timeout"] = timeout
    if dry_run:
        body["dry_run"] = True
    if rollout is not None:
        settings = msgspec.to_builtins(rollout)
        body["rollout"] = {name: value for name, value in settings.items() if value is not None}
    return body


def _key(idempotency_key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else None


def submit(body: dict[str, Any], idempotency_key: str | None = None) -> Call[Accepted]:
    return Call("POST", "/job", _as(Accepted), json=body, headers=_key(idempotency_key))


def run(
    body: dict[str, Any], wait: float, idempotency_key: str | None = None
) -> Call[JobDetail | Accepted]:
    """Submit and answer the final detail, or :class:`Accepted` if ``wait`` runs out."""
    return Call(
        "POST",
        "/job",
        _detail_or_accepted,
        json=body,
        params={"wait": wait},
        headers=_key(idempotency_key),
        wait=wait,
    )


def submit_batch(
    bodies: Sequence[dict[str, Any]], idempotency_key: str | None = None
) -> Call[Batch]:
    return Call(
        "POST", "/job/batch", _as(Batch), json={"jobs": list(bodies)}, headers=_key(idempotency_key)
    )


def job(job_id: str) -> Call[JobDetail]:
    return Call("GET", f"/job/{job_id}", _as(JobDetail))


def jobs(status: str | None = None, limit: int = 20, offset: int = 0) -> Call[JobList]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status:
        params["status"] = status
    return Call("GET", "/job", _as(JobList), params=params)


def delete(job_id: str) -> Call[None]:
    return Call("DELETE", f"/job/{job_id}", _nothing)


def retry(
    job_id: str,
    target: str | None = None,
    timeout: float | None = None,
    idempotency_key: str | None = None,
) -> Call[Accepted]:
    body = {k: v for k, v in (("target", target), ("timeout", timeout)) if v is not None}
    return Call(
        "POST", f"/job/{job_id}/retry", _as(Accepted), json=body, headers=_key(idempotency_key)
    )


def cancel(job_id: str) -> Call[Accepted]:
    return Call("POST", f"/job/{job_id}/cancel", _as(Accepted))


def operations() -> Call[OperationList]:
    return Call("GET", "/operation", _as(OperationList))


def operation(name: str) -> Call[OperationView]:
    return Call("GET", f"/operation/{name}", _as(OperationView))


def agents() -> Call[AgentList]:
    return Call("GET", "/agent", _as(AgentList))


def agent(hostname: str) -> Call[AgentView]:
    return Call("GET", f"/agent/{hostname}", _as(AgentView))


def drain(hostname: str, drained: bool) -> Call[AgentView]:
    """Take an agent out of rotation (``drained``) or put it back."""
    verb = "drain" if drained else "undrain"
    return Call("POST", f"/agent/{hostname}/{verb}", _as(AgentView))


def upload_object(name: str, content: bytes) -> Call[ObjectStored]:
    return Call(
        "POST",
        "/object",
        _as(ObjectStored),
        params={"name": name},
        headers={"Content-Type": "application/octet-stream"},
        content=content,
    )


def list_objects() -> Call[ObjectList]:
    return Call("GET", "/object", _as(ObjectList))


def get_object(name: str) -> Call[ObjectView]:
    return Call("GET", f"/object/{name}", _as(ObjectView))


def delete_object(name: str) -> Call[None]:
    return Call("DELETE", f"/object/{name}", _nothing)


def audit(
    *,
    key: str | None = None,
    route: str | None = None,
    status: int | None = None,
    job_id: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Call[AuditPage]:
    """A page of the audit log, newest first; the next page is ``before=page.next``."""
    given = {"key": key, "route": route, "status": status, "job_id": job_id, "before": before}
    params: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    return Call("GET", "/audit", _as(AuditPage), params={**params, "limit": limit})


def health() -> Call[HealthAnswer]:
    return Call("GET", "/health", _as(HealthAnswer))


def ready() -> Call[ReadyAnswer]:
    """Readiness; a controller that is not ready answers 503 (ServiceUnavailable)."""
    return Call("GET", "/health/ready", _as(ReadyAnswer))


def openapi() -> Call[dict[str, Any]]:
    """The API's OpenAPI 3.1 document."""
    return Call("GET", "/openapi.json", _as(dict))
