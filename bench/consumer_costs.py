"""What N agent-like consumers cost a bare three-node cluster. I/O: processes, NATS, /proc.

The bare part under corral's per-agent broker cost: on a fresh cluster of
its own (no corral), one scratch stream with three replicas and ``count``
durable consumers configured as an agent's is (controller/agent_consumers.py:
explicit acks, state in memory, filtered to ``_all`` and its own host),
created 32 at a time as the controller's consumer workers do. Measured: the
time to create them all, each node's RSS growth per consumer and the
nodes' idle CPU after, with the consumers' own replica count at 3 (what an
agent's consumer inherits from ``CORRAL_JOBS`` on a cluster today) and at 1
(state on one node only).
With R1, also what one client connection with an agent's core
subscriptions costs the node it joins (an agent process has one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from bench import cpu
from bench.cluster_stack import ClusterServers
from bench.report import Row, figure_row
from bench.stack import rss_bytes
from devstack.nats_cluster import NODES

STREAM = "BENCH_CONSUMERS"
MAX_CONNECTIONS = 2_000  # one process's worth of sockets, well under its file limit
IN_FLIGHT = 32
IDLE_SECONDS = 10.0  # the controller's consumer-request workers (controller/agent_consumers.py)


@dataclass(frozen=True)
class ConsumerCost:
    replicas: int
    count: int
    seconds: float
    rss_per_consumer: float  # bytes per consumer, mean of the nodes
    idle_cores: float  # CPU of the three nodes together, no message flowing
    rss_per_connection: float = 0.0  # bytes per client connection on the node they join


def agent_like(index: int, replicas: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=f"agent-{index}",
        filter_subjects=["bench.consumers.all", f"bench.consumers.host.h{index}"],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        ack_wait=30.0,
        max_ack_pending=16,
        mem_storage=True,
        num_replicas=replicas,
    )


async def measure(root: Path, count: int, replicas: int) -> ConsumerCost:
    """``count`` consumers of ``replicas`` on a cluster of their own under ``root``."""
    servers = ClusterServers(root / f"consumers-r{replicas}-{count}")
    await asyncio.to_thread(servers.start)
    try:
        cost = await _create(servers, count, replicas)
        if replicas == 1:
            per_connection = await _connections(servers, min(count, MAX_CONNECTIONS))
            cost = dataclasses.replace(cost, rss_per_connection=per_connection)
        return cost
    finally:
        await asyncio.to_thread(servers.stop)


async def _create(servers: ClusterServers, count: int, replicas: int) -> ConsumerCost:
    nc = await nats.connect(servers.bench_url(NODES[0]), name="bench-consumers")
    try:
        js = nc.jetstream(timeout=30.0)
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=["bench.consumers.>"],
                num_replicas=3,
                max_consumers=count + 10,
            )
        )
        before = {name: rss_bytes(pid) for name, pid in servers.node_pids().items()}
        configs = [agent_like(index, replicas) for index in range(count)]
        started = time.monotonic()
        for start in range(0, count, IN_FLIGHT):
            chunk = configs[start : start + IN_FLIGHT]
            await asyncio.gather(*(js.add_consumer(STREAM, config) for config in chunk))
        seconds = time.monotonic() - started
        after = {name: rss_bytes(pid) for name, pid in servers.node_pids().items()}
        idle = await _idle_cores(servers)
    finally:
        await nc.close()
    growth = statistics.mean((after[name] - before[name]) / count for name in before)
    return ConsumerCost(replicas, count, round(seconds, 2), growth, idle)


async def _idle_cores(servers: ClusterServers) -> float:
    """The nodes' CPU over IDLE_SECONDS with the consumers and nothing else: what
    keeping them costs (with R3, each one's Raft group)."""
    pids = servers.node_pids()
    before = cpu.sample(pids)
    started = time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)  # a measurement window: nothing to wait for
    spent = sum(cpu.sample(pids).values()) - sum(before.values())
    return spent / (time.monotonic() - started)


async def _connections(servers: ClusterServers, count: int) -> float:
    """RSS growth of ``nats-2`` per client connection holding an agent's core
    subscriptions (its replies, cancels, drains), as an agent process has one."""
    node = NODES[1]
    pid = servers.node_pids()[node]
    before = rss_bytes(pid)
    clients = []
    try:
        for index in range(count):
            nc = await nats.connect(servers.bench_url(node), name=f"bench-agent-{index}")
            clients.append(nc)
            for subject in (f"_INBOX_h{index}.>", "corral.control.cancel", f"bench.drain.h{index}"):
                await nc.subscribe(subject)
        for nc in clients:
            await nc.flush()
        return (rss_bytes(pid) - before) / count
    finally:
        for nc in clients:
            await nc.close()


def rows(cost: ConsumerCost) -> list[Row]:
    label = f"bare JetStream, {cost.count:,} R{cost.replicas} memory consumers"
    return [
        figure_row(
            f"{label}: created in",
            cost.seconds,
            "s",
            notes=f"{IN_FLIGHT} at a time; {cost.count / cost.seconds:,.0f} consumers/s",
        ),
        figure_row(
            f"{label}: nats-server RSS per consumer",
            cost.rss_per_consumer / 1024,
            "KB",
            notes="per node, mean of 3 nodes",
        ),
        figure_row(
            f"{label}: nats-server idle CPU, 3 nodes",
            cost.idle_cores,
            "cores",
            notes=f"{IDLE_SECONDS:g} s after they were created, no message",
        ),
        *(
            [
                figure_row(
                    f"bare NATS, {min(cost.count, MAX_CONNECTIONS):,} client connections: "
                    "nats-server RSS per connection",
                    cost.rss_per_connection / 1024,
                    "KB",
                    notes="3 core subscriptions each, all on one node",
                )
            ]
            if cost.rss_per_connection
            else []
        ),
    ]
