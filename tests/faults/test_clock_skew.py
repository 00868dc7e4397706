"""Agents whose wall clock is really off (promises 1 and 4).

Each agent is an ordinary agent process started through
:mod:`tests.faults.skewed_agent`, which shifts ``time.time`` before corral
is imported. The controller's clock is right. Within the agent's
``clock_skew_tolerance`` (30 s) jobs run; ±10 minutes off, a job is refused
with a reason naming clock skew, counted as ``clock_skew`` in the agent's
heartbeat, its side effect never runs, and the job ends ``failed`` with
the agent's reason (not ``timeout`` from the sweeper). Deadlines stay the
controller's: a job of an agent 15 s behind ends by the controller's clock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nats.aio.msg import Msg

from common import subjects
from common.messages import HEARTBEAT_DECODER, Heartbeat
from tests.faults.checker import Tracked, counter_runs
from tests.faults.cluster import Cluster, counter_op
from tests.faults.skewed_agent import OFFSET_ENV

LAUNCHER = "tests.faults.skewed_agent"
# Agent hostname -> its clock's offset from the controller's, in seconds.
WITHIN = {"ahead-15s.test": 15.0, "behind-15s.test": -15.0}
BEYOND = {"ahead-10m.test": 600.0, "behind-10m.test": -600.0}
JOB_TIMEOUT = 20.0


async def refusals_in_heartbeat(cluster: Cluster, hostname: str, reason: str) -> Heartbeat:
    """The first heartbeat of ``hostname`` that counts a refusal for ``reason``."""
    counted: asyncio.Future[Heartbeat] = asyncio.get_running_loop().create_future()

    async def on_beat(msg: Msg) -> None:
        beat = HEARTBEAT_DECODER.decode(msg.data)
        if beat.refusals.get(reason) and not counted.done():
            counted.set_result(beat)

    sub = await (await cluster.bus()).subscribe(subjects.heartbeat_of(hostname), cb=on_beat)
    try:
        return await asyncio.wait_for(counted, timeout=30)
    finally:
        await sub.unsubscribe()


async def test_skewed_agents_run_within_tolerance_and_refuse_beyond_it(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    for host, offset in {**WITHIN, **BEYOND}.items():
        await cluster.add_agent(host, env={OFFSET_ENV: repr(offset)}, module=LAUNCHER)
    checker = cluster.checker()
    jobs: dict[str, Tracked] = {}
    for host in [*WITHIN, *BEYOND]:
        op, data, token = counter_op(counter)
        job_id = await cluster.submit(op, data, host, job_timeout=JOB_TIMEOUT)
        jobs[host] = checker.track(job_id, JOB_TIMEOUT, counter=counter, token=token)
    # An agent 15 s behind believes a job has 15 s more than it has: the job
    # still ends by the deadline of the controller's clock.
    slow_id = await cluster.submit("test.sleep", {"seconds": 60}, "behind-15s.test", job_timeout=3)
    slow = checker.track(slow_id, 3)
    # Ahead by 10 minutes, a job with a longer timeout is not expired by that
    # clock yet: it runs (only its operation's time is cut by the offset).
    long_id = await cluster.submit("test.ping", {}, "ahead-10m.test", job_timeout=900)
    checker.track(long_id, 900)

    for host in WITHIN:
        detail = await cluster.final(jobs[host].job_id, within=JOB_TIMEOUT + 10)
        assert detail["status"] == "completed", detail
        assert counter_runs(counter, jobs[host].token) == {host: 1}

    detail = await cluster.final(slow_id, within=30)
    assert time.time() <= slow.deadline + 10, "finished long after the deadline"
    assert detail["status"] == "failed", detail
    assert detail["agent_states"]["behind-15s.test"]["error"], detail

    assert (await cluster.final(long_id))["status"] == "completed"

    for host in BEYOND:
        detail = await cluster.final(jobs[host].job_id, within=JOB_TIMEOUT + 10)
        assert detail["status"] == "failed", detail
        state = detail["agent_states"][host]
        # Refused by the agent (failed, with its reason), not timed out by the sweeper.
        assert state["status"] == "failed", state
        assert "clock skew" in state["error"], state
        assert not counter_runs(counter, jobs[host].token), "a refused job ran its side effect"
        beat = await refusals_in_heartbeat(cluster, host, "clock_skew")
        assert beat.refusals["clock_skew"] == 1, beat.refusals

    (await checker.check()).assert_clean()
