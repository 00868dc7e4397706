"""The API's answers other than the job detail (common/detail.py): their shapes. Pure.

Declared once here, so the controller encodes and the SDK (corral_sdk/)
decodes the same structs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.messages import Facts, Operation


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """A job taken (or found again by its Idempotency-Key), not final yet."""

    job_id: str
    status: str
    retry_of: str | None = None


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[Accepted]


class JobListItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: str | None
    updated_at: str | None
    operation: Operation
    target: str
    expected_agents: int
    finished_agents: int


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    total_items: int
    status_counts: dict[str, int]
    items: list[JobListItem]


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    labels: dict[str, str]
    state: str
    last_seen: str | None
    first_seen: str | None
    running: int
    refusals: dict[str, int]
    facts: Facts
    # Out of rotation (POST /agent/{hostname}/drain): no new _any or broadcast work.
    drained: bool = False


class AgentList(msgspec.Struct, frozen=True, kw_only=True):
    total_items: int
    items: list[AgentView]


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error: ``{error, details, code}``."""

    error: str
    details: str
    code: int


class OperationView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    family: str
    kind: str
    scope: str
    summary: str
    description: str
    platforms: list[str]
    example: dict[str, Any]
    dry_run: bool  # whether a dry run is possible
    opt_in: bool
    params_schema: dict[str, Any]
    result_schema: dict[str, Any]


class OperationList(msgspec.Struct, frozen=True, kw_only=True):
    total_items: int
    items: list[OperationView]


class AuditItem(msgspec.Struct, frozen=True, kw_only=True):
    """One audited call (controller/store/audit.py): the key's name, never the key."""

    id: str
    at: float
    key: str
    method: str
    route: str
    status: int
    target: str = ""
    job_id: str = ""
    details: str = ""


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /audit``: newest first; ``next`` is the ``before`` of the next page."""

    items: list[AuditItem]
    next: str | None


class HealthAnswer(msgspec.Struct, frozen=True, kw_only=True):
    status: str


class ReadyAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /health/ready``: ``checks`` maps each dependency (nats, redis) to ok/unreachable."""

    status: str
    checks: dict[str, str]


class ObjectStored(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /object``: what the object store now holds under ``name``."""

    name: str
    size: int
    sha256: str


class ObjectView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size: int
    sha256: str
    modified: str | None  # RFC 3339, when it was uploaded


class ObjectList(msgspec.Struct, frozen=True, kw_only=True):
    objects: list[ObjectView]
