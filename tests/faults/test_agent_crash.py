"""Agents SIGKILLed at each point of the job pipeline (promises 1 and 2).

Delivery is at-least-once: a job whose agent died before acking comes back
after the consumer's ack wait (shortened here through the agent config).
Whatever the point of death, the job must end terminal, and a side effect
must have run at most once on that agent. Every point runs at once on its
own agent (one ack wait for all of them), each agent behind its own proxy so
the test can stop it at an exact protocol step: the proxy swallows the
agent's traffic from the first chunk that carries the step's bytes, and the
agent is killed there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op
from tests.faults.proxy import TcpProxy

# The agents' own consumers get a short ack wait (their config allows it):
# redelivery comes within seconds, well before the job's deadline.
ACK_WAIT = 5.0
JOB_TIMEOUT = 30.0


async def crash_point(
    cluster: Cluster,
    host: str,
    proxy: TcpProxy,
    operation: tuple[str, dict[str, Any]],
    armed: Callable[[str], Awaitable[None]],
    counter: tuple[Path, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Submit, wait for the crash point, SIGKILL the agent there, restart it."""
    job_id = await cluster.submit(*operation, target=host, job_timeout=JOB_TIMEOUT)
    await armed(job_id)
    cluster.agents[host].kill()
    proxy.heal()
    await cluster.agents[host].launch()
    if counter is None:
        return job_id, {}
    return job_id, {"counter": counter[0], "token": counter[1]}


async def has_run(path: Path, token: str) -> bool:
    return bool(counter_runs(path, token))


@pytest.mark.slow
async def test_agents_killed_at_each_pipeline_point_lose_and_repeat_nothing(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    points = ["acknowledged", "read_only", "side_effect", "before_event", "before_ack"]
    proxies = {}
    for point in points:
        proxies[point] = await cluster.proxy(cluster.nats.port)
        await cluster.add_agent(f"{point}.test", nats_url=proxies[point].url, ack_wait=ACK_WAIT)

    async def tripped(point: str, *patterns: bytes) -> Callable[[str], Awaitable[None]]:
        event = proxies[point].trip_on(*patterns)

        async def wait(job_id: str) -> None:
            try:
                await asyncio.wait_for(event.wait(), 20)
            except TimeoutError:
                raise AssertionError(f"{point}: the agent never sent {patterns}") from None

        return wait

    def reached(point: str, statuses: set[str]) -> Callable[[str], Awaitable[None]]:
        async def wait(job_id: str) -> None:
            await cluster.agent_reached(job_id, f"{point}.test", statuses)

        return wait

    def ran(point: str, path: Path, token: str) -> Callable[[str], Awaitable[None]]:
        async def wait(job_id: str) -> None:
            await until(lambda: has_run(path, token), f"{point} side effect ran")

        return wait

    effect_op, effect_data, effect_token = counter_op(counter, seconds=3)
    before_event = counter_op(counter, seconds=0.2)
    before_ack = counter_op(counter, seconds=0.2)
    scenarios = [
        # The 'started' event is the first thing sent after 'acknowledged'.
        crash_point(
            cluster, "acknowledged.test", proxies["acknowledged"],
            ("test.sleep", {"seconds": 2}), await tripped("acknowledged", b"started"),
        ),
        crash_point(
            cluster, "read_only.test", proxies["read_only"],
            ("test.sleep", {"seconds": 3}), reached("read_only", {"started"}),
        ),
        crash_point(
            cluster, "side_effect.test", proxies["side_effect"],
            (effect_op, effect_data), ran("side_effect", counter, effect_token),
            (counter, effect_token),
        ),
        # Finished, but its terminal event never reached JetStream.
        crash_point(
            cluster, "before_event.test", proxies["before_event"],
            before_event[:2], await tripped("before_event", b"completed"),
            (counter, before_event[2]),
        ),
        # Terminal event stored, the job message's ack (an empty PUB to the
        # reply subject; the operation is far shorter than the in-progress
        # interval, so no +WPI is sent) never arrives.
        crash_point(
            cluster, "before_ack.test", proxies["before_ack"],
            before_ack[:2], await tripped("before_ack", b"PUB $JS.ACK.CORRAL_JOBS."),
            (counter, before_ack[2]),
        ),
    ]  # fmt: skip
    checker = cluster.checker()
    for job_id, extra in await asyncio.gather(*scenarios):
        checker.track(job_id, JOB_TIMEOUT, **extra)
    verdict = await checker.check()
    verdict.assert_clean()
