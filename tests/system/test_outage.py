"""Dependency outages: 503 JSON while Redis or NATS is down, recovery without a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.process import ServerProcess
from devstack.redis_server import start_redis
from devstack.until import until
from tests.controller.api.test_app import assert_error
from tests.harness import Stack, running_stack

HOST = "web-1.dev.local"
PING = {"operation": {"type": "test.ping"}, "target": HOST}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ServerProcess]:
    """A redis-server only this test uses, so it can be stopped and restarted."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


async def assert_all_routes_503(stack: Stack, job_id: str) -> None:
    for method, path in [
        ("GET", "/job"),
        ("GET", f"/job/{job_id}"),
        ("POST", "/job"),
        ("POST", f"/job/{job_id}/retry"),
        ("POST", f"/job/{job_id}/cancel"),
        ("DELETE", f"/job/{uuid.uuid4()}"),
        ("GET", "/agent"),
        ("GET", f"/agent/{HOST}"),
        ("GET", "/health/ready"),
    ]:
        body = PING if path == "/job" and method == "POST" else None
        response = await stack.api.request(method, path, json=body)
        if path == "/health/ready":
            assert response.status_code == 503, response.text
            continue
        assert_error(response, 503)


async def test_redis_down_is_503_everywhere_then_recovers(
    nats_server: ServerProcess, own_redis: ServerProcess, tmp_path: Path
) -> None:
    async with running_stack(nats_server.url, own_redis.url, tmp_path) as stack:
        await stack.start_agent(HOST)
        before = await stack.submit("test.ping", target=HOST)
        await stack.final(before)
        own_redis.stop()
        await assert_all_routes_503(stack, before)
        # Same port, same data directory; the controller is not restarted.
        await asyncio.to_thread(own_redis.restart)

        async def answers() -> bool:
            return (await stack.api.get("/job")).status_code == 200

        await until(answers, "the API answering again")
        assert (await stack.detail(before))["status"] == "completed"
        after = await stack.final(await stack.submit("test.ping", target=HOST))
        assert after["status"] == "completed"


@pytest.mark.slow
async def test_nats_down_is_503_then_jobs_flow_again(
    nats_server: ServerProcess, stack: Stack
) -> None:
    await stack.start_agent(HOST)
    before = await stack.submit("test.ping", target=HOST)
    await stack.final(before)
    nats_server.stop()

    async def refused() -> bool:
        return (await stack.api.get("/job")).status_code == 503

    await until(refused, "the API noticing NATS is gone")
    await assert_all_routes_503(stack, before)
    await asyncio.to_thread(nats_server.restart)

    async def answers() -> bool:
        return (await stack.api.get("/job")).status_code == 200

    await until(answers, "the API answering again")
    # The collector's pull loop resumed: a new job's events are folded.
    for _ in range(3):
        after = await stack.final(await stack.submit("test.ping", target=HOST), within=60)
        assert after["status"] == "completed"
