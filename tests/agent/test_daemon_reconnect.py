"""An agent survives nats-server being killed and restarted on the same store.

Its connection reconnects forever (with backoff), and its pull loops bind
their subscriptions afresh after the reconnect, so jobs flow again without
restarting any corral part (the nats-py pull-after-reconnect stall guard).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from devstack.nats_server import start_nats
from devstack.until import until
from tests.harness import Stack, running_stack


async def test_jobs_flow_again_after_nats_is_killed_and_restarted(
    tmp_path: Path, redis_db_url: str
) -> None:
    store = tmp_path / "nats-store"
    nats_server = await asyncio.to_thread(start_nats, store)
    port = urlsplit(nats_server.url).port
    try:
        async with running_stack(nats_server.url, redis_db_url, tmp_path) as stack:
            host = "reconnect.test"
            agent = await stack.start_agent(host)
            before = await stack.submit("test.ping", target=host)
            assert (await stack.final(before))["status"] == "completed"

            await asyncio.to_thread(nats_server.kill)
            nats_server = await asyncio.to_thread(start_nats, store, port)

            async def reconnected() -> bool:
                return agent.nc.is_connected and agent.nc.stats["reconnects"] >= 1

            await until(reconnected, "the agent reconnected")
            # The controller may answer 503 for a moment while it reconnects too.
            job_id = await _submit_when_ready(stack, host)
            detail = await stack.final(job_id)
            assert detail["status"] == "completed"
            assert detail["hostname"] == host
            await stack.agents[host].crash()
    finally:
        await asyncio.to_thread(nats_server.stop)


async def _submit_when_ready(stack: Stack, host: str) -> str:
    found: list[str] = []

    async def accepted() -> bool:
        response = await stack.api.post(
            "/job", json={"operation": {"type": "test.ping", "data": {}}, "target": host}
        )
        if response.status_code == 201:
            found.append(response.json()["job_id"])
        return bool(found)

    await until(accepted, "the controller to accept jobs again")
    return found[0]
