"""``GET /agent``, ``GET /agent/{hostname}``, drain and undrain. I/O: Redis, NATS."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from common.errors import (
    NotFound,
)
from controller.api.audit import note
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
    items = [
        agent_view(r, registry.state_of(r, now), r.hostname in registry.drained) for r in agents
    ]
    return json_response({"total_items": len(items), "items": items})


async def get_agent(request: Request) -> Response:
    svc = authorize(request, "agent:read")
    await svc.store.ping()
    registry = svc.registry
    hostname = request.path_params["hostname"]
    record = registry.agents.get(hostname)
    if record is None:
        raise NotFound(f"no agent named {hostname[:253]!r}", title="Agent not found.")
    drained = hostname in registry.drained
    return json_response(agent_view(record, registry.state_of(record, time.time()), drained))


async def drain_agent(request: Request) -> Response:
    return await _set_drained(request, True)


async def undrain_agent(request: Request) -> Response:
    return await _set_drained(request, False)


async def _set_drained(request: Request, drained: bool) -> Response:
    """Take an agent out of rotation or back; answers the agent as ``GET /agent/{hostname}``."""
    svc = authorize(request, "agent:write")
    hostname = request.path_params["hostname"]
    note(request, target=hostname[:253])
    await svc.drains.set(hostname, drained)
    record = svc.registry.agents[hostname]
    state = svc.registry.state_of(record, time.time())
    return json_response(agent_view(record, state, drained))
