"""Operations that outlive the consumer's ack wait (promise 2).

A long operation is kept alive with in-progress acks, so it is never
redelivered; an agent frozen (SIGSTOP) past the ack wait while its side
effect runs must not start a second run of the same job when it wakes up
to the redelivery.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op

# The agents' own consumers get a short ack wait (their config allows it), so
# the scenario takes seconds, not the default 30 s.
ACK_WAIT = 6.0


async def ran(counter: Path, token: str) -> bool:
    return bool(counter_runs(counter, token))


@pytest.mark.slow
async def test_long_operation_and_frozen_agent_past_the_ack_wait_run_once(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    await cluster.add_agent("long.test", ack_wait=ACK_WAIT)
    frozen = await cluster.add_agent("frozen.test", ack_wait=ACK_WAIT)
    checker = cluster.checker()
    long_job = await cluster.submit(
        "test.sleep", {"seconds": ACK_WAIT + 3}, "long.test", job_timeout=ACK_WAIT + 30
    )
    checker.track(long_job, ACK_WAIT + 30)
    op, data, token = counter_op(counter, seconds=ACK_WAIT + 10)
    frozen_job = await cluster.submit(op, data, "frozen.test", job_timeout=ACK_WAIT + 40)
    checker.track(frozen_job, ACK_WAIT + 40, counter=counter, token=token)
    await until(lambda: ran(counter, token), "the side effect started")
    frozen.pause()
    # The fault here is time itself: the ack wait must run out while frozen.
    await asyncio.sleep(ACK_WAIT + 2)
    frozen.resume()

    long_detail = await cluster.final(long_job, within=ACK_WAIT + 30)
    assert long_detail["status"] == "completed"
    assert long_detail["agent_states"]["long.test"]["attempt"] == 1
    assert "retried" not in [e["event"] for e in long_detail["timeline"]]
    await cluster.final(frozen_job, within=ACK_WAIT + 40)
    verdict = await checker.check()
    verdict.assert_clean()
    assert counter_runs(counter, token) == {"frozen.test": 1}


@pytest.mark.slow
async def test_an_any_job_whose_agent_froze_past_the_ack_wait_runs_on_no_other_agent(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    for host in ("any-1.test", "any-2.test", "any-3.test"):
        await cluster.add_agent(host, ack_wait=ACK_WAIT)
    await cluster.shared_ack_wait(ACK_WAIT)
    checker = cluster.checker()
    op, data, token = counter_op(counter, seconds=ACK_WAIT + 10)
    job_id = await cluster.submit(op, data, "_any", job_timeout=ACK_WAIT + 40)
    checker.track(job_id, ACK_WAIT + 40, counter=counter, token=token, any_agent=True)
    await until(lambda: ran(counter, token), "the side effect started")
    [winner] = counter_runs(counter, token)
    cluster.agents[winner].pause()

    async def handed_on() -> bool:
        # JetStream redelivered the job to another agent, which refused it (or ran it).
        return bool(cluster.refused("claimed")) or sum(counter_runs(counter, token).values()) > 1

    try:
        await until(handed_on, "the job redelivered to another agent", within=ACK_WAIT + 20)
    finally:
        cluster.agents[winner].resume()
    detail = await cluster.final(job_id, within=ACK_WAIT + 40)
    assert detail["status"] == "completed"
    assert detail["hostname"] == winner
    (await checker.check()).assert_clean()
    assert counter_runs(counter, token) == {winner: 1}
    assert winner not in cluster.refused("claimed")
