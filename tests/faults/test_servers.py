"""nats-server and redis-server SIGKILLed and restarted on the same port and data
(promises 1 and 6: nothing acknowledged is lost, 503 while down, recovery
without restarting any corral process)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from devstack.until import until
from tests.faults.checker import Checker, counter_runs
from tests.faults.cluster import Cluster
from tests.faults.load import load_round

HOSTS = ["s-1.test", "s-2.test", "s-3.test"]
ANY_EFFECTS = 3  # _any side-effect jobs per load round
BURST = 30  # _any side effects in flight when the broker is killed
ACK_WAIT = 6.0


async def with_agents(cluster: Cluster, **settings: Any) -> None:
    await cluster.add_controller()
    for host in HOSTS:
        await cluster.add_agent(host, **settings)


async def answers(cluster: Cluster, method: str, path: str, code: int) -> bool:
    job = {"operation": {"type": "test.ping", "data": {}}, "target": "_any"}
    response = await cluster.api.request(method, path, json=job if method == "POST" else None)
    if response.status_code != code:
        return False
    body = response.json()
    if code >= 400 and not path.startswith("/health"):
        assert set(body) == {"error", "details", "code"}, body
    return True


async def rounds(
    cluster: Cluster, checker: Checker, counter: Path, n: int, any_effects: int = 0
) -> Counter[int]:
    refused: Counter[int] = Counter()
    rng = random.Random(n)
    for _ in range(n):
        await load_round(
            cluster,
            checker,
            counter,
            HOSTS,
            job_timeout=60,
            refused=refused,
            any_effects=any_effects,
            rng=rng,
        )
    return refused


@pytest.mark.slow
async def test_nats_killed_and_restarted_with_jobs_in_flight_loses_nothing(
    cluster: Cluster, counter: Path
) -> None:
    # Acks the broker lost come back within seconds, not the default 30 s.
    await with_agents(cluster, ack_wait=ACK_WAIT)
    await cluster.shared_ack_wait(ACK_WAIT)
    checker = cluster.checker()
    # _any side effects in flight too: an ack the broker lost must not run one
    # again on another agent (the claim), counted per job across agents.
    assert not await rounds(cluster, checker, counter, 3, any_effects=ANY_EFFECTS)
    # A burst of short ones, the broker killed while they finish and are acked.
    refused: Counter[int] = Counter()
    await load_round(
        cluster,
        checker,
        counter,
        [],
        job_timeout=60,
        refused=refused,
        any_jobs=0,
        any_effects=BURST,
    )
    assert not refused
    burst = {job.token for job in checker.jobs[-BURST:]}

    def a_third_ran() -> bool:
        ran = [line for line in counter.read_text().splitlines() if line.split()[0] in burst]
        return len(ran) >= BURST // 3

    await until(a_third_ran, "a third of the burst ran")
    await asyncio.to_thread(cluster.nats.kill)
    await until(lambda: answers(cluster, "POST", "/job", 503), "503 on submit while NATS is down")
    assert await answers(cluster, "GET", "/health/ready", 503)
    await asyncio.to_thread(cluster.nats.restart)
    # No corral process restarted: every consumer must resume by itself.
    await until(lambda: answers(cluster, "GET", "/health/ready", 200), "ready again", 30)
    assert not await rounds(cluster, checker, counter, 2, any_effects=ANY_EFFECTS)
    await until(cluster.jobs_settled, "every job message settled, no redelivery to come", 60)
    (await checker.check()).assert_clean()
    for job in checker.jobs:
        assert (await cluster.detail(job.job_id))["status"] == "completed", job.job_id
    any_effects = [job for job in checker.jobs if job.any_agent and job.counter]
    assert len(any_effects) == 5 * ANY_EFFECTS + BURST
    for job in any_effects:  # each ran exactly once in all
        assert sum(counter_runs(counter, job.token).values()) == 1, job.job_id


@pytest.mark.slow
async def test_redis_killed_and_restarted_during_folds_converges(
    cluster: Cluster, counter: Path
) -> None:
    await with_agents(cluster)
    checker = cluster.checker()
    assert not await rounds(cluster, checker, counter, 2)
    some_job = checker.jobs[0].job_id
    await asyncio.to_thread(cluster.redis.kill)
    await until(lambda: answers(cluster, "GET", f"/job/{some_job}", 503), "503 while Redis is down")
    assert await answers(cluster, "POST", "/job", 503)
    await asyncio.to_thread(cluster.redis.restart)  # same port, same AOF (everysec)
    await until(lambda: answers(cluster, "GET", "/health/ready", 200), "ready again", 30)
    assert not await rounds(cluster, checker, counter, 2)
    await until(cluster.events_settled, "every event folded and acked", within=60)
    (await checker.check()).assert_clean()
    for job in checker.jobs:
        assert (await cluster.detail(job.job_id))["status"] == "completed", job.job_id
