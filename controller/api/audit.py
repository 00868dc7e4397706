"""Auditing the API: every mutating call and every refused key, before it is answered.

ASGI middleware around the app. When a mutating request (POST, PUT,
PATCH, DELETE) or any request refused for its key (401, 403) starts its
response, the entry is written to the audit log (controller/store/audit.py)
and logged (``audit``) first, so a client that got an answer was audited.
Routes add what only they know (the job id, the target) with :func:`note`;
the key's name comes from the authenticator (never the key itself).

A call whose answer waits for more than its own change (``POST /job?wait=``
waits for the job to end) has its entry written as soon as the change is
made (:func:`write_early`: the job created, 201), while it waits; its answer
still starts only once that entry is written. An answer with another status
(the wait ran out: 202) gets an entry of its own as well.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controller.store.audit import AuditEntry, AuditLog

log = structlog.get_logger("corral.audit")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403})
_NOTES = "corral_audit"
_EARLY = "corral_audit_early"
# Early writes in flight: the loop holds tasks only weakly.
_early_writes: set[asyncio.Task[None]] = set()


def note(request: Request, **fields: str) -> None:
    """Add fields (key, target, job_id, details) to this request's audit entry."""
    notes: dict[str, str] = request.scope.setdefault("state", {}).setdefault(_NOTES, {})
    notes.update(fields)


class Auditing:
    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Reads pass untouched (their refusals are written by the app's error
        # handler, :func:`write`): the read path pays nothing for auditing.
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                early: tuple[int, asyncio.Task[None]] | None = scope.get("state", {}).get(_EARLY)
                if early is not None:
                    await asyncio.shield(early[1])
                if early is None or early[0] != status:
                    await write(self.audit, scope, status)
            await send(message)

        await self.app(scope, receive, sending)


def write_early(request: Request, audit: AuditLog | None, status: int) -> None:
    """Start writing this request's entry now, as answered ``status``, for a call that
    goes on waiting once its change is made; its notes must be complete."""
    if audit is None:
        return
    task = asyncio.create_task(write(audit, request.scope, status))
    _early_writes.add(task)
    task.add_done_callback(_early_writes.discard)
    request.scope.setdefault("state", {})[_EARLY] = (status, task)


async def write(audit: AuditLog, scope: Scope, status: int) -> None:
    """Write and log the audit entry of the request ``scope``, answered ``status``."""
    notes: dict[str, Any] = scope.get("state", {}).get(_NOTES, {})
    entry = AuditEntry(
        at=time.time(),
        key=notes.get("key", ""),
        method=scope["method"],
        route=str(getattr(scope.get("route"), "path", "unmatched")),
        status=status,
        target=notes.get("target", ""),
        job_id=notes.get("job_id", ""),
        details=notes.get("details", ""),
    )
    fields = _fields(entry)
    log.info("audit", **fields)
    try:
        await audit.record(entry)
    except Exception as exc:  # noqa: BLE001 - the call itself succeeded or failed already
        log.error("audit_not_written", error=str(exc), **fields)


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        name: getattr(entry, name)
        for name in ("key", "method", "route", "status", "target", "job_id", "details")
        if getattr(entry, name) not in ("", None)
    }
