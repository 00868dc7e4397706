"""A swarm: many virtual agents on one connection, each answering like an agent,
sharing one cancel subscription (bench/swarm.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

from agent.daemon import Agent
from bench.swarm import build_swarm, run_swarm, swarm_hostnames
from bus.connect import connect
from common import subjects
from common.config import AgentConfig
from common.signing import Verifier, load_public
from devstack.until import until
from tests.harness import Stack

COUNT = 3


@contextlib.asynccontextmanager
async def swarm(stack: Stack, prefix: str) -> AsyncIterator[list[Agent]]:
    base = AgentConfig(
        nats_url=stack.nats_url, public_key=str(stack.public_key), heartbeat_interval=1.0
    )
    nc = await connect(stack.nats_url, f"swarm {prefix}")
    agents = build_swarm(
        nc, base, swarm_hostnames(prefix, COUNT), Verifier(load_public(base.public_key))
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_swarm(agents, stop))
    try:
        for agent in agents:
            await until(functools.partial(stack.registered, agent.hostname), "registered")
        yield agents
    finally:
        stop.set()
        await task
        await nc.close()


def cancel_subscriptions(agents: list[Agent]) -> int:
    subs = agents[0].nc._subs.values()  # what the swarm subscribed to
    return sum(1 for sub in subs if sub.subject == subjects.CANCEL)


async def test_every_virtual_agent_answers_a_broadcast_once(stack: Stack) -> None:
    async with swarm(stack, "ping") as agents:
        job_id = await stack.submit("test.ping", target="_all")
        detail = await stack.final(job_id)
        assert detail["status"] == "completed"
        assert set(detail["agent_states"]) == {a.hostname for a in agents}
        assert all(a.runtime.completed == 1 for a in agents)


async def test_one_cancel_subscription_stops_the_job_on_every_virtual_agent(
    stack: Stack,
) -> None:
    async with swarm(stack, "cancel") as agents:
        assert cancel_subscriptions(agents) == 1
        job_id = await stack.submit("test.sleep", {"seconds": 60}, target="_all", job_timeout=120)

        async def all_running() -> bool:
            return all(job_id in a.runtime.active for a in agents)

        await until(all_running, "the job running on every virtual agent")
        assert (await stack.api.post(f"/job/{job_id}/cancel")).status_code == 202
        detail = await stack.final(job_id)
        assert detail["status"] == "cancelled"
        assert {s["status"] for s in detail["agent_states"].values()} == {"cancelled"}
        # Remembered once for the process: the virtual agents share the set.
        assert all(a.runtime.cancelled is agents[0].runtime.cancelled for a in agents)
        assert job_id in agents[0].runtime.cancelled
