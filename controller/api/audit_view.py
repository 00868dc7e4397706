"""``GET /audit``: the audit log, newest first, filtered, a page at a time. I/O: Redis."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from common.errors import (
    InvalidRequest,
    NotFound,
)
from controller.api.http import (
    authorize,
    int_param,
    json_response,
)
from controller.store.audit import AuditFilter

AUDIT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


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
