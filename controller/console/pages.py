"""The console's reading pages: jobs, one job (and its live part), agents. I/O: Redis.

Each reads what the matching API route reads (the job index, the cached
detail, the registry) with the session's key and the same scopes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from common.detail import JobDetail
from common.errors import InvalidRequest, NotFound, Unauthorized
from common.job import FINAL_STATUSES, JOB_STATUSES
from controller.api.auth import check_scope
from controller.api.http import Services, int_param, job_id_param, services_of
from controller.api.views import agent_view, job_item
from controller.console.guard import Visitor, to_login, visitor
from controller.console.render import page
from controller.console.views import AGENTS_PAGE, STATE_ORDER, Pages, detail_view, shows_drained

JOBS_PAGE = 20
_DETAIL = msgspec.json.Decoder(JobDetail)

Page = Callable[[Request, Visitor], Awaitable[Response]]


def signed_in(handler: Page, *, part: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` for a visitor with a session; anyone else goes to the login page,
    or, asking for a ``part`` of a page (a script's fetch), gets a 401."""

    async def route(request: Request) -> Response:
        found = await visitor(request)
        if found is None:
            if part:
                raise Unauthorized("the console session ended; log in again")
            return to_login(request)
        return await handler(request, found)

    return route


async def jobs(request: Request, who: Visitor) -> Response:
    check_scope(who.key, "job:read")
    status = request.query_params.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise InvalidRequest(f"status: must be one of {', '.join(JOB_STATUSES)}")
    offset = int_param(request, "offset", 0, 0, 10_000_000)
    total, counts, items = await services_of(request).store.listing(status, JOBS_PAGE, offset)
    return page(
        "jobs.html",
        who=who,
        section="jobs",
        items=[job_item(i) for i in items],
        counts=counts,
        all_jobs=sum(counts.values()),
        status=status,
        total=total,
        offset=offset,
        size=JOBS_PAGE,
    )


async def _detail(svc: Services, request: Request) -> JobDetail:
    job_id = job_id_param(request)
    body = await svc.reader.body(job_id)
    if body is None:
        raise NotFound(f"no job with id {job_id}")
    return _DETAIL.decode(body)


def _grid_params(request: Request) -> tuple[int, str | None]:
    state = request.query_params.get("state") or None
    if state is not None and state not in STATE_ORDER:
        raise InvalidRequest(f"state: must be one of {', '.join(STATE_ORDER)}")
    return int_param(request, "page", 1, 1, 1_000_000), state


async def job(request: Request, who: Visitor) -> Response:
    check_scope(who.key, "job:read")
    detail = await _detail(services_of(request), request)
    grid_page, state = _grid_params(request)
    view = detail_view(detail, grid_page, state)
    return page(
        "job.html",
        who=who,
        section="jobs",
        view=view,
        final=detail.status in FINAL_STATUSES,
        states=STATE_ORDER,
    )


async def job_live(request: Request, who: Visitor) -> Response:
    """The part of a job's page that changes, for its script to swap in as events arrive."""
    check_scope(who.key, "job:read")
    detail = await _detail(services_of(request), request)
    grid_page, state = _grid_params(request)
    view = detail_view(detail, grid_page, state)
    return page(
        "job_live.html", view=view, final=detail.status in FINAL_STATUSES, states=STATE_ORDER
    )


async def agents(request: Request, who: Visitor) -> Response:
    check_scope(who.key, "agent:read")
    svc = services_of(request)
    await svc.store.ping()  # as GET /agent: 503 while Redis is down
    registry, now = svc.registry, time.time()
    records = sorted(registry.agents.values(), key=lambda r: r.hostname)
    pages = Pages.of(len(records), AGENTS_PAGE, int_param(request, "page", 1, 1, 1_000_000))
    shown = records[pages.first : pages.first + AGENTS_PAGE]
    items = [
        msgspec.to_builtins(
            agent_view(r, registry.state_of(r, now), r.hostname in registry.drained)
        )
        for r in shown
    ]
    return page(
        "agents.html",
        who=who,
        section="agents",
        items=items,
        total=len(records),
        pages=pages,
        drained=shows_drained(items),
    )
