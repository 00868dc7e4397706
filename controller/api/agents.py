"""``GET /agent`` and ``GET /agent/{hostname}``: the registry as the API shows it. I/O: Redis."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from common.errors import (
    NotFound,
)
from controller.api.http import (
    authorize,
    json_response,
)
from controller.api.views import agent_view


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
