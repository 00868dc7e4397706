"""A three-node NATS cluster with R3 streams, its nodes killed and restarted under load
(promises 1, 2 and 6: nothing acknowledged is lost or run twice, no corral
process restarted).

The nodes run the shipped configs (deploy/nats/cluster/, through
devstack/nats_cluster.py: only ports and paths replaced) with the accounts
file filled in as an operator would: a user and password for the
controller, one agent user per host. Controllers and agents connect to
different nodes, each with one node's URL, as ``nats_url`` is documented:
they learn the others from the cluster and fail over by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from redis.asyncio import Redis

from bus.connect import connect
from common import subjects
from devstack.nats_cluster import (
    CLUSTER_CONFIGS,
    NODES,
    NatsCluster,
    fill_accounts,
    start_cluster,
)
from devstack.redis_server import start_redis
from devstack.until import until
from tests.faults.checker import Checker
from tests.faults.cluster import Cluster
from tests.faults.load import load_round

EXAMPLE = "web-1~2Eexample~2Ecom"  # the shipped agent block's encoded host
CONTROLLER_PASSWORD = "controller-test-pw"
HOSTS = ["n-1.test", "n-2.test", "n-3.test"]
ACK_WAIT = 5.0  # redelivery of a lost ack within the test, not after 30 s
JOB_TIMEOUT = 20.0
# A JetStream API call may go unanswered while leaders are elected: ask again.
UNANSWERED = (nats.errors.TimeoutError, nats.errors.NoRespondersError)


def agent_password(host: str) -> str:
    return f"{host}-pw"


def accounts(hosts: list[str]) -> str:
    shipped = (CLUSTER_CONFIGS / "accounts.conf").read_text()
    agents = {host: agent_password(host) for host in hosts}
    users = {"controller": CONTROLLER_PASSWORD, "admin": "admin-test-pw"}
    return fill_accounts(shipped, users, agents, EXAMPLE, subjects.encode_token)


class ClusteredCorral:
    """The fault harness's :class:`Cluster` on a NATS cluster instead of one server."""

    def __init__(self, corral: Cluster, nats: NatsCluster) -> None:
        self.corral = corral
        self.nats = nats

    def controller_url(self, node: str) -> str:
        return self.nats.url(node, "controller", CONTROLLER_PASSWORD)

    def agent_url(self, node: str, host: str) -> str:
        return self.nats.url(node, f"agent-{host}", agent_password(host))

    async def controller(self, name: str, node: str) -> None:
        await self.corral.add_controller(
            name, nats_url=self.controller_url(node), stream_replicas=3
        )
        await self.short_ack_waits()

    async def short_ack_waits(self) -> None:
        """The shared consumers' ack waits (30 s as a controller makes them) cut to
        ACK_WAIT: a message delivered, or an ack sent, through a node that stopped
        comes back within the test. Again after each controller start."""
        await self.corral.shared_ack_wait(ACK_WAIT)
        js = await self.corral.js()
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.COLLECTOR_CONSUMER)
        shorter = dataclasses.replace(info.config, ack_wait=ACK_WAIT)
        await js.add_consumer(subjects.EVENTS_STREAM, shorter)

    async def agents(self, hosts: list[str], nodes: list[str], **settings: Any) -> None:
        """Start the agents at once (each until online), ``hosts[i]`` on ``nodes[i]``."""
        settings = {"ack_wait": ACK_WAIT, **settings}
        async with asyncio.TaskGroup() as starting:
            for host, node in zip(hosts, nodes, strict=True):
                url = self.agent_url(node, host)
                starting.create_task(self.corral.add_agent(host, nats_url=url, **settings))

    async def leader(self, stream: str = subjects.JOBS_STREAM) -> str:
        info = await (await self.corral.bus()).jetstream().stream_info(stream)
        assert info.cluster is not None
        assert info.cluster.leader, info.cluster
        return info.cluster.leader

    async def current(self) -> bool:
        """Every corral stream has a leader and all its replicas are current."""
        js = (await self.corral.bus()).jetstream()
        for stream in (subjects.JOBS_STREAM, subjects.EVENTS_STREAM):
            cluster = (await js.stream_info(stream)).cluster
            if cluster is None or not cluster.leader:
                return False
            peers = cluster.replicas or []
            if len(peers) != len(NODES) - 1:
                return False
            if not all(peer.current and not peer.offline for peer in peers):
                return False
        return True

    async def led_by_other_than(self, gone: str) -> bool:
        for stream in (subjects.JOBS_STREAM, subjects.EVENTS_STREAM):
            info = await (await self.corral.bus()).jetstream().stream_info(stream)
            if info.cluster is None or info.cluster.leader in (None, "", gone):
                return False
        return True


@contextlib.asynccontextmanager
async def clustered_corral(root: Path, hosts: list[str]) -> AsyncIterator[ClusteredCorral]:
    """The NATS cluster (with agent users for ``hosts``), Redis, and the harness on them."""
    nats = await asyncio.to_thread(start_cluster, root / "nats", accounts(hosts))
    corral = Cluster(root)
    try:
        # The harness's single-server slots point at the first node.
        corral.nats = nats.nodes[NODES[0]]
        corral.bus_url = nats.url(NODES[0], "controller", CONTROLLER_PASSWORD)
        corral.redis = await asyncio.to_thread(start_redis, root / "redis")
        corral.store = Redis.from_url(corral.redis.url, socket_timeout=5)
        # The test's own connection fails over like the corral processes' (bus/connect.py).
        corral._bus = await connect(corral.bus_url, "faults-test")
        yield ClusteredCorral(corral, nats)
    finally:
        await corral.close()
        await asyncio.to_thread(nats.stop)


@pytest.fixture
async def clustered(tmp_path: Path) -> AsyncIterator[ClusteredCorral]:
    async with clustered_corral(tmp_path, HOSTS) as running:
        yield running


async def load(
    clustered: ClusteredCorral, checker: Checker, counter: Path, rounds: int, seed: int
) -> Counter[int]:
    refused: Counter[int] = Counter()
    rng = random.Random(seed)
    for _ in range(rounds):
        await load_round(
            clustered.corral,
            checker,
            counter,
            HOSTS,
            job_timeout=JOB_TIMEOUT,
            refused=refused,
            any_effects=2,
            rng=rng,
        )
    return refused


async def settled_and_clean(clustered: ClusteredCorral, checker: Checker) -> None:
    """Every accepted job completed, none lost, run twice or counted twice."""
    corral = clustered.corral
    await until(corral.jobs_settled, "every job message settled", within=20, ignore=UNANSWERED)
    (await checker.check()).assert_clean()
    statuses = Counter([(await corral.detail(job.job_id))["status"] for job in checker.jobs])
    assert set(statuses) == {"completed"}, statuses


@pytest.mark.slow
async def test_stream_leader_killed_under_load_loses_and_repeats_nothing(
    clustered: ClusteredCorral, counter: Path
) -> None:
    await clustered.controller("c1", NODES[0])
    await clustered.agents(HOSTS, list(NODES))
    corral = clustered.corral
    checker = corral.checker()
    assert not await load(clustered, checker, counter, 1, seed=1)

    leader = await clustered.leader()
    jobs_in_flight = asyncio.create_task(load(clustered, checker, counter, 3, seed=2))
    await until(lambda: len(checker.jobs) > 12, "load under way")
    await asyncio.to_thread(clustered.nats.kill, leader)
    refused = await jobs_in_flight
    await until(
        lambda: clustered.led_by_other_than(leader),
        "new stream leaders",
        within=15,
        ignore=UNANSWERED,
    )
    refused += await load(clustered, checker, counter, 1, seed=3)
    await asyncio.to_thread(clustered.nats.restart, leader)

    assert set(refused) <= {503}, refused  # a submit while its node fails over: not accepted
    await settled_and_clean(clustered, checker)
    assert all(proc.starts == 1 for proc in [*corral.agents.values(), *corral.controllers.values()])


@pytest.mark.slow
async def test_rolling_restart_of_all_three_nodes_under_load_loses_and_repeats_nothing(
    clustered: ClusteredCorral, counter: Path
) -> None:
    await clustered.controller("c1", NODES[1])
    await clustered.agents(HOSTS, list(NODES))
    corral = clustered.corral
    checker = corral.checker()
    jobs_in_flight = asyncio.create_task(load(clustered, checker, counter, 4, seed=4))
    for node in NODES:  # as docs/deployment.md says: one node at a time
        await until(lambda: len(checker.jobs) > 4, "load under way")
        # SIGTERM, start again, until every node's /healthz says its JetStream is current.
        await asyncio.to_thread(clustered.nats.restart, node)
        await until(
            clustered.current, f"all replicas current after {node}", within=20, ignore=UNANSWERED
        )
    refused = await jobs_in_flight
    refused += await load(clustered, checker, counter, 1, seed=5)

    assert set(refused) <= {503}, refused
    await settled_and_clean(clustered, checker)
    assert all(proc.starts == 1 for proc in [*corral.agents.values(), *corral.controllers.values()])
