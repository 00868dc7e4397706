"""Routes that read or end existing jobs: list, detail, live streams, delete, cancel. I/O: Redis."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from common.api import JobList
from common.errors import (
    InvalidRequest,
    NotFound,
)
from common.job import JOB_STATUSES
from controller.api import live
from controller.api.audit import note
from controller.api.http import (
    authorize,
    int_param,
    job_id_param,
    json_response,
)
from controller.api.views import job_item


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
    return live.stream_response(live.firehose(svc.watchers, statuses, operation))


async def delete_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    note(request, job_id=job_id)
    if not await svc.store.delete(job_id):
        raise NotFound(f"no job with id {job_id}")
    return Response(status_code=204)


async def cancel_job(request: Request) -> Response:
    svc = authorize(request, "job:write")
    job_id = job_id_param(request)
    note(request, job_id=job_id)
    await svc.canceller.cancel(job_id)
    return json_response({"job_id": job_id, "status": "cancelled"}, 202)
