"""A restarted nats-server forgets every agent's consumer (its state is in memory,
agent/own_consumer.py); the jobs stream on disk keeps every job. An agent must
create its consumer again at its floor (agent/floor.py), so a job stored
for it before the restart still reaches it, and a job it already ran is not
run again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.js.errors
import pytest

from common import subjects
from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op

HOST = "floor.test"


async def consumer_exists(cluster: Cluster) -> bool:
    js = (await cluster.bus()).jetstream()
    try:
        info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    except nats.js.errors.NotFoundError:
        return False
    assert info.config.mem_storage, "the agent's consumer keeps its state in memory"
    return True


@pytest.mark.slow
async def test_agent_down_across_a_broker_restart_still_gets_the_jobs_stored_for_it(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    agent = await cluster.add_agent(HOST)
    assert await consumer_exists(cluster)
    op, data, ran_before = counter_op(counter)
    before = await cluster.submit(op, data, HOST, job_timeout=120)
    assert (await cluster.final(before))["status"] == "completed"

    # A crash, not a drain: the floor on disk is whatever the last heartbeat saved.
    await asyncio.to_thread(agent.kill)
    op, data, ran_after = counter_op(counter)
    after = await cluster.submit(op, data, HOST, job_timeout=120)
    await asyncio.to_thread(cluster.nats.kill)
    await asyncio.to_thread(cluster.nats.restart)
    await until(lambda: _ready(cluster), "controller ready after the broker restart", 30)
    assert not await consumer_exists(cluster), "a restarted broker forgets memory state"

    await agent.launch()
    detail = await cluster.final(after, within=60)
    assert detail["status"] == "completed", detail
    assert set(detail["responses"]) == {HOST}
    created = agent.events("own_consumer_created")
    assert created
    assert created[-1]["start"] != "stream end", created
    # The job before the restart may come again (at or above the floor): its
    # outcome is re-sent from the journal, never run a second time.
    assert counter_runs(counter, ran_before) == {HOST: 1}
    assert counter_runs(counter, ran_after) == {HOST: 1}
    assert (await cluster.detail(before))["status"] == "completed"


async def _ready(cluster: Cluster) -> bool:
    response = await cluster.api.get("/health/ready")
    return response.status_code == 200
