"""A Redis Cluster master SIGKILLed under load: its replica takes over, nothing is lost.

The controller runs on a private six-node cluster (three masters, three
replicas, ``cluster-node-timeout`` 1 s: devstack/redis_cluster.py). Jobs
are submitted and folded while the master serving the listing indexes
(``corral:{index}:*``, which every submit writes) is killed. Until its
replica is promoted the API answers 503, never 500; afterwards every
accepted job completes with nothing lost, duplicated or double-counted,
and no corral process was restarted.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.store.keys import INDEX_ALL
from controller.store.redis import RedisClient, connect_redis
from devstack.redis_cluster import EmbeddedRedisCluster, start_redis_cluster
from devstack.until import until
from tests.faults.checker import Checker
from tests.faults.cluster import Cluster
from tests.faults.load import load_round

HOSTS = ["rc-1.test", "rc-2.test"]
ROUND = 4 + 1 + len(HOSTS)  # jobs per load round (tests/faults/load.py)
JOB_TIMEOUT = 30.0


@pytest.fixture
async def own_redis_cluster(tmp_path: Path) -> AsyncIterator[EmbeddedRedisCluster]:
    """Private: this test kills one of its masters."""
    redis_cluster = await start_redis_cluster(tmp_path / "redis-cluster")
    try:
        yield redis_cluster
    finally:
        await asyncio.to_thread(redis_cluster.stop)


@pytest.fixture
async def store(own_redis_cluster: EmbeddedRedisCluster) -> AsyncIterator[RedisClient]:
    """The checker's own client, reading the stored events through the failover."""
    client = connect_redis(own_redis_cluster.url)
    try:
        yield client
    finally:
        await client.aclose()


async def keep_loading(
    cluster: Cluster,
    checker: Checker,
    counter: Path,
    refused: Counter[int],
    stop: asyncio.Event,
) -> None:
    """Submit rounds of mixed jobs until ``stop``; refusals are counted by status."""
    rng = random.Random(14)
    while not stop.is_set():
        await load_round(
            cluster, checker, counter, HOSTS, job_timeout=JOB_TIMEOUT, refused=refused, rng=rng
        )


@pytest.mark.slow
async def test_a_master_killed_under_load_fails_over_with_503s_and_loses_nothing(
    cluster: Cluster,
    own_redis_cluster: EmbeddedRedisCluster,
    store: RedisClient,
    counter: Path,
) -> None:
    await cluster.add_controller(redis_url=own_redis_cluster.url)
    for host in HOSTS:
        await cluster.add_agent(host)
    checker = Checker(cluster.api, store)
    refused: Counter[int] = Counter()
    stop = asyncio.Event()
    loading = asyncio.create_task(keep_loading(cluster, checker, counter, refused, stop))
    try:
        await until(lambda: len(checker.jobs) >= 2 * ROUND, "two rounds of jobs accepted")
        doomed = await own_redis_cluster.owner(INDEX_ALL)
        await asyncio.to_thread(doomed.kill)
        # Every submit writes the index: refused until the replica serves it.
        await until(lambda: refused[503] > 0, "a 503 while the master is down")
        await until(own_redis_cluster.healthy, "the replica promoted, the cluster ok")
        accepted = len(checker.jobs)
        await until(
            lambda: len(checker.jobs) >= accepted + ROUND, "a round accepted after failover"
        )
    finally:
        stop.set()
        await loading
    assert (await own_redis_cluster.owner(INDEX_ALL)).port != doomed.port
    assert set(refused) == {503}, refused  # never a 500, never a dropped connection
    await until(cluster.events_settled, "every event folded and acked", within=30)
    (await checker.check()).assert_clean()
    for job in checker.jobs:
        assert (await cluster.detail(job.job_id))["status"] == "completed", job.job_id
    # Listed are exactly the accepted jobs: a refused submit left no index entry.
    listing = (await cluster.api.get("/job", params={"limit": 1})).json()
    assert listing["total_items"] == len(checker.jobs)
