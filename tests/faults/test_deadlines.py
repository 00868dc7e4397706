"""Deadlines hold when agents vanish or freeze (promise 1: no silent loss)."""

from __future__ import annotations

import time

import pytest

from devstack.until import until
from tests.faults.cluster import SWEEP_INTERVAL, Cluster

# The sweeper's grace for answers in flight, plus room for a loaded machine.
FINISH_SLACK = SWEEP_INTERVAL + 1.0 + 5.0


async def test_single_target_agent_killed_ends_failed_with_timeout_by_deadline(
    cluster: Cluster,
) -> None:
    await cluster.add_controller()
    agent = await cluster.add_agent("gone-1.test")
    checker = cluster.checker()
    job_id = await cluster.submit("test.sleep", {"seconds": 30}, "gone-1.test", job_timeout=3)
    tracked = checker.track(job_id, 3)
    await cluster.agent_reached(job_id, "gone-1.test", {"started"})
    agent.kill()  # never comes back

    detail = await cluster.final(job_id, within=3 + FINISH_SLACK)
    assert time.time() <= tracked.deadline + FINISH_SLACK
    assert detail["status"] == "failed"
    state = detail["agent_states"]["gone-1.test"]
    assert state["status"] == "timeout"
    assert state["error"]
    assert [e["event"] for e in detail["timeline"]][-1] == "timeout"
    (await checker.check()).assert_clean()


@pytest.mark.slow
async def test_broadcast_with_one_frozen_agent_is_partial_then_late_answer_is_flagged(
    cluster: Cluster,
) -> None:
    await cluster.add_controller()
    hosts = [f"b-{i}.test" for i in range(5)]
    for host in hosts:
        await cluster.add_agent(host, {"group": "bcast"})
    frozen = cluster.agents[hosts[0]]
    checker = cluster.checker()
    frozen.pause()
    job_id = await cluster.submit("test.ping", target="_all", job_timeout=2)
    checker.track(job_id, 2)

    detail = await cluster.final(job_id, within=2 + FINISH_SLACK)
    assert detail["status"] == "partial_failure"
    assert detail["agent_states"][hosts[0]]["status"] == "timeout"
    assert all(detail["agent_states"][h]["status"] == "completed" for h in hosts[1:])
    assert set(detail["responses"]) == set(hosts[1:])

    frozen.resume()

    async def late() -> bool:
        state = (await cluster.detail(job_id))["agent_states"][hosts[0]]
        return bool(state["late"])

    await until(late, "the frozen agent's late answer")
    after = await cluster.detail(job_id)
    assert after["status"] == "partial_failure"
    assert after["agent_states"][hosts[0]]["status"] in {"completed", "failed"}
    (await checker.check()).assert_clean()
