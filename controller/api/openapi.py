"""``GET /openapi.json``: the API described as OpenAPI 3.1, from the same types it speaks. Pure.

Each route of the route table (controller/api/app.py) is described once
here, as an :class:`Endpoint`: its scope, query parameters, request body
and answers, named by the msgspec types the handlers decode and encode, so
the JSON Schemas come from msgspec and cannot drift from the code. A test
(tests/controller/api/test_openapi.py) fails when a route has no endpoint or
an endpoint no route, and schemathesis fuzzes the running API against this
document in ``make test``.

The document needs no key: it shows shapes, never data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

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
from common.job import JOB_STATUSES
from common.subjects import OBJECT_NAME
from controller.api.batch import BatchBody
from controller.api.bodies import RetryBody, SubmitBody

VERSION = "0.1.0"
SSE = "text/event-stream"
# What every authenticated route may answer besides its own success.
AUTHENTICATED = (401, 403, 503)


@dataclass(frozen=True)
class Param:
    """A query, path or header parameter; ``schema`` is JSON Schema."""

    name: str
    where: str  # query | path | header
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    repeated: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One route as a client sees it.

    ``answers``: status -> the body's type (a tuple: any one of them; None:
    no body; SSE: an event stream). ``scope``: what the key must hold ("" needs no key; "operation"
    is the submitted operation's own scope, docs/security.md).
    """

    method: str
    path: str
    summary: str
    scope: str
    answers: dict[int, Any]
    body: Any = None
    params: tuple[Param, ...] = ()
    body_media: str = "application/json"

    @property
    def operation_id(self) -> str:
        words = [w.strip("{}") for w in self.path.split("/") if w]
        return self.method.lower() + "_" + "_".join(words or ["root"])


JOB_ID = Param(
    "job_id", "path", "The job's UUID.", {"type": "string", "format": "uuid"}, required=True
)
HOSTNAME = Param("hostname", "path", "The agent's hostname.", required=True)
IDEMPOTENCY = Param(
    "Idempotency-Key",
    "header",
    "Replaying the same key with the same body answers the first result (24 h).",
    {"type": "string", "minLength": 1, "maxLength": 200},
)
STATUS = {"type": "string", "enum": list(JOB_STATUSES)}
OBJECT = Param(
    "name",
    "path",
    "The object's name.",
    {"type": "string", "pattern": f"^{OBJECT_NAME}$"},
    required=True,
)


def _limit(default: int, most: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": most, "default": default}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/job",
        "Submit a job.",
        "operation",
        {
            201: (Accepted, JobDetail),
            202: Accepted,
            400: ErrorBody,
            409: ErrorBody,
            413: ErrorBody,
            422: ErrorBody,
        },
        body=SubmitBody,
        params=(
            Param(
                "wait",
                "query",
                "Answer when the job is final (the detail, 201), or 202 after this many seconds.",
                {"type": "number", "minimum": 0, "maximum": 300},
            ),
            IDEMPOTENCY,
        ),
    ),
    Endpoint(
        "GET",
        "/job",
        "List jobs, newest first.",
        "job:read",
        {200: JobList, 400: ErrorBody},
        params=(
            Param("status", "query", "Only jobs with this status.", STATUS),
            Param("limit", "query", "Page size.", _limit(20, 100)),
            Param("offset", "query", "Items to skip.", {"type": "integer", "minimum": 0}),
        ),
    ),
    Endpoint(
        "POST",
        "/job/batch",
        "Submit many jobs at once.",
        "operation",
        {201: Batch, 400: ErrorBody, 413: ErrorBody, 422: ErrorBody},
        body=BatchBody,
        params=(IDEMPOTENCY,),
    ),
    Endpoint(
        "GET",
        "/job/{job_id}",
        "The job detail.",
        "job:read",
        {200: JobDetail, 400: ErrorBody, 404: ErrorBody},
        params=(JOB_ID,),
    ),
    Endpoint(
        "GET",
        "/job/{job_id}/events",
        "The job's live progress (Server-Sent Events): snapshot, changes, final.",
        "job:read",
        {200: SSE, 400: ErrorBody, 404: ErrorBody},
        params=(
            JOB_ID,
            Param("Last-Event-ID", "header", "Resume after this event id (no snapshot)."),
        ),
    ),
    Endpoint(
        "GET",
        "/events",
        "Every job's status changes (Server-Sent Events), filtered.",
        "job:read",
        {200: SSE, 400: ErrorBody},
        params=(
            Param("status", "query", "Only these statuses (repeatable).", STATUS, repeated=True),
            Param("operation", "query", "Only this operation type."),
        ),
    ),
    Endpoint(
        "DELETE",
        "/job/{job_id}",
        "Delete a job's record.",
        "job:write",
        {204: None, 400: ErrorBody, 404: ErrorBody},
        params=(JOB_ID,),
    ),
    Endpoint(
        "POST",
        "/job/{job_id}/retry",
        "Submit the job again, as a new job.",
        "job:write",
        {
            201: Accepted,
            400: ErrorBody,
            404: ErrorBody,
            409: ErrorBody,
            413: ErrorBody,
            422: ErrorBody,
        },
        body=RetryBody,
        params=(JOB_ID, IDEMPOTENCY),
    ),
    Endpoint(
        "POST",
        "/job/{job_id}/cancel",
        "Cancel a job that is not final yet.",
        "job:write",
        {202: Accepted, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody},
        params=(JOB_ID,),
    ),
    Endpoint(
        "GET",
        "/audit",
        "The audit log, newest first, a page at a time.",
        "audit:read",
        {200: AuditPage, 400: ErrorBody, 404: ErrorBody},
        params=(
            Param("key", "query", "Only calls made with this key name."),
            Param("route", "query", "Only this route template (e.g. /job/{job_id}/cancel)."),
            Param(
                "status",
                "query",
                "Only calls answered with this status.",
                {"type": "integer", "minimum": 100, "maximum": 599},
            ),
            Param("job_id", "query", "Only calls about this job."),
            Param("before", "query", "The previous page's `next`.", {"type": "string"}),
            Param("limit", "query", "Page size.", _limit(50, 500)),
        ),
    ),
    Endpoint(
        "GET", "/operation", "Every operation with its schemas.", "job:read", {200: OperationList}
    ),
    Endpoint(
        "GET",
        "/operation/{name}",
        "One operation with its schemas.",
        "job:read",
        {200: OperationView, 404: ErrorBody},
        params=(Param("name", "path", "The operation's name.", required=True),),
    ),
    Endpoint("GET", "/agent", "Every registered agent.", "agent:read", {200: AgentList}),
    Endpoint(
        "GET",
        "/agent/{hostname}",
        "One agent.",
        "agent:read",
        {200: AgentView, 404: ErrorBody},
        params=(HOSTNAME,),
    ),
    Endpoint(
        "POST",
        "/agent/{hostname}/drain",
        "Take an agent out of rotation.",
        "agent:write",
        {200: AgentView, 404: ErrorBody},
        params=(HOSTNAME,),
    ),
    Endpoint(
        "POST",
        "/agent/{hostname}/undrain",
        "Put an agent back into rotation.",
        "agent:write",
        {200: AgentView, 404: ErrorBody},
        params=(HOSTNAME,),
    ),
    Endpoint(
        "POST",
        "/object",
        "Upload a file's content for file.deploy (the raw body).",
        "file:write",
        {201: ObjectStored, 400: ErrorBody, 413: ErrorBody},
        body=bytes,
        body_media="application/octet-stream",
        params=(
            Param(
                "name",
                "query",
                "The object's name.",
                {"type": "string", "pattern": f"^{OBJECT_NAME}$"},
                required=True,
            ),
        ),
    ),
    Endpoint("GET", "/object", "Every stored object.", "file:read", {200: ObjectList}),
    Endpoint(
        "GET",
        "/object/{name}",
        "One object's size, digest and upload time.",
        "file:read",
        {200: ObjectView, 400: ErrorBody, 404: ErrorBody},
        params=(OBJECT,),
    ),
    Endpoint(
        "DELETE",
        "/object/{name}",
        "Delete an object.",
        "file:write",
        {204: None, 400: ErrorBody, 404: ErrorBody},
        params=(OBJECT,),
    ),
    Endpoint("GET", "/health", "Liveness.", "", {200: HealthAnswer}),
    Endpoint("GET", "/health/ready", "Readiness.", "", {200: ReadyAnswer, 503: ReadyAnswer}),
    Endpoint("GET", "/openapi.json", "This document.", "", {200: dict[str, Any]}),
)


def _parameter(param: Param) -> dict[str, Any]:
    schema = {"type": "array", "items": param.schema} if param.repeated else param.schema
    described: dict[str, Any] = {
        "name": param.name,
        "in": param.where,
        "description": param.description,
        "required": param.required or param.where == "path",
        "schema": schema,
    }
    if param.repeated:
        described.update(style="form", explode=True)
    return described


def _content(kind: Any, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if kind == SSE:
        return {SSE: {"schema": {"type": "string"}}}
    if isinstance(kind, tuple):
        return {"application/json": {"schema": {"anyOf": [schemas[k] for k in kind]}}}
    return {"application/json": {"schema": schemas[kind]}}


def _security(scope: str) -> list[dict[str, list[str]]]:
    return [] if not scope else [{"apiKey": []}]


def _operation(endpoint: Endpoint, schemas: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    answers = dict(endpoint.answers)
    if endpoint.scope:
        answers.update({code: ErrorBody for code in AUTHENTICATED if code not in answers})
    responses: dict[str, Any] = {}
    for code, kind in sorted(answers.items()):
        described: dict[str, Any] = {"description": _STATUS_TEXT.get(code, str(code))}
        if kind is not None:
            described["content"] = _content(kind, schemas)
        responses[str(code)] = described
    scope = {
        "": "No key needed.",
        "operation": "The submitted operation's scope (`<family>:read` or `<family>:write`).",
    }.get(endpoint.scope, f"Scope `{endpoint.scope}`.")
    described_op: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "description": scope,
        "security": _security(endpoint.scope),
        "parameters": [_parameter(p) for p in endpoint.params],
        "responses": responses,
        "x-scope": endpoint.scope or None,
    }
    if endpoint.body is not None:
        json_body = endpoint.body_media == "application/json"
        schema = schemas[endpoint.body] if json_body else {"type": "string", "format": "binary"}
        described_op["requestBody"] = {
            # Raw content may be empty: an empty file is a file.
            "required": json_body,
            "content": {endpoint.body_media: {"schema": schema}},
        }
    return described_op


_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted, not final yet",
    204: "Done, no body",
    400: "Bad input: the details name the field",
    401: "No key or an unknown key",
    403: "The key lacks the scope the details name",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    422: "Idempotency-Key reused with another body",
    503: "Redis or NATS unreachable; retry later",
}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every endpoint."""
    named = [kind for e in ENDPOINTS for kind in (*e.answers.values(), e.body)]
    flat = [k for kind in named for k in (kind if isinstance(kind, tuple) else (kind,))]
    kinds = sorted({kind for kind in flat if _is_type(kind)}, key=repr)
    generated, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}"
    )
    schemas = dict(zip(kinds, generated, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "corral",
            "version": VERSION,
            "description": "Jobs for fleets of hosts: submit, watch, steer (docs/api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <API key>` (docs/security.md).",
                }
            },
        },
    }


def _is_type(kind: Any) -> bool:
    return kind is not None and kind != SSE
