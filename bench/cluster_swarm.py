"""The ``cluster-swarm`` group: N agents in several swarm processes on a three-node
NATS cluster, and what each agent costs. I/O: processes, NATS, HTTP, Redis, /proc.

For each size N, a fresh cluster (bench/cluster_stack.py: shipped configs,
R3 streams, the controller on ``nats-1``), a fresh Redis and a controller;
then, in this order:

1. readings of the empty system: each node's RSS, Redis ``used_memory``;
2. N agents in swarm processes of at most :data:`AGENTS_PER_PROCESS`, at
   least one per node, until all are online;
3. an idle window of :data:`IDLE_SECONDS` with only heartbeats: CPU of every
   process, so the controller's CPU per heartbeat and nats-server's idle
   cost of N consumers; then each node's RSS and Redis again (memory per
   agent consumer, per registered agent);
4. :data:`HOST_JOBS` jobs to single swarm agents: Redis memory per job;
5. ``reps`` broadcasts (``_all`` ``test.ping``), each checked for exactly N
   pongs, with CPU of every process and Redis memory around each: CPU per
   agent-response, Redis memory per agent-response;
6. the bare NATS fan-out to N measured in the same run, published on
   ``nats-1`` and answered on ``nats-2`` (across a route, as a broadcast).

Every process is stopped by its PID before the next size. The figures are
rows of the table and a ``cluster_series`` entry per size in the JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ceilings, consumer_costs, cpu, jobs
from bench.cluster_stack import ClusterServers, ClusterStack, used_memory
from bench.report import Row, figure_row, time_row
from bench.scenarios import split
from bench.stack import Stack, rss_bytes
from common.config import AgentConfig
from devstack.nats_cluster import NODES

AGENTS_PER_PROCESS = 5_000  # one swarm process is one core's worth of agents
IDLE_SECONDS = 10.0
HOST_JOBS = 200
HEARTBEAT_INTERVAL = AgentConfig().heartbeat_interval  # what the swarms use
CONTROLLER = "controller"


def swarm_counts(count: int) -> list[int]:
    """Agents per swarm process: at most AGENTS_PER_PROCESS, at least one process per node."""
    processes = max(len(NODES), math.ceil(count / AGENTS_PER_PROCESS))
    return [share for share in split(count, processes) if share]


def per_agent(before: dict[str, int], after: dict[str, int], count: int) -> dict[str, float]:
    """Bytes per agent of each name read both times."""
    return {name: (after[name] - before[name]) / count for name in before if name in after}


def net_of_idle(spent: float, idle_rate: float, seconds: float) -> float:
    """CPU seconds ``spent`` over ``seconds``, less what the idle rate would have spent."""
    return max(0.0, spent - idle_rate * seconds)


@dataclass
class Broadcast:
    seconds: float
    cpu_ms_per_response: dict[str, float]
    redis_bytes: int


@dataclass
class Point:
    """Everything measured at one size, for the JSON and the rows."""

    agents: int
    swarm_processes: list[int]
    swarm_nodes: list[str]
    online_after_s: float = 0.0
    load_average: dict[str, list[float]] = field(default_factory=dict)
    rss_empty: dict[str, int] = field(default_factory=dict)
    rss_online: dict[str, int] = field(default_factory=dict)
    rss_after: dict[str, int] = field(default_factory=dict)
    idle_cores: dict[str, float] = field(default_factory=dict)
    redis_empty: int = 0
    redis_online: int = 0
    redis_per_job: float = 0.0
    broadcasts: list[Broadcast] = field(default_factory=list)
    nats_fanout_s: float = 0.0
    swarm_rss: list[int] = field(default_factory=list)

    def median_broadcast(self) -> float:
        return statistics.median(b.seconds for b in self.broadcasts)

    def per_response(self, process: str) -> float:
        """Median CPU µs per agent-response of ``process`` (or the nats-server nodes)."""
        names = list(NODES) if process == "nats-server" else [process]
        return statistics.median(
            sum(b.cpu_ms_per_response.get(n, 0.0) for n in names) * 1000 for b in self.broadcasts
        )

    def controller_net_per_response(self) -> float:
        """The controller's µs per agent-response less its idle (heartbeat) rate."""
        idle = self.idle_cores.get(CONTROLLER, 0.0)
        net = [
            net_of_idle(b.cpu_ms_per_response[CONTROLLER] * self.agents / 1000, idle, b.seconds)
            / self.agents
            * 1e6
            for b in self.broadcasts
        ]
        return statistics.median(net)

    def redis_per_response(self) -> float:
        return statistics.median(
            (b.redis_bytes - self.redis_per_job) / self.agents for b in self.broadcasts
        )

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def node_rss(servers: ClusterServers) -> dict[str, int]:
    return {name: rss_bytes(pid) for name, pid in servers.node_pids().items()}


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


async def measure(root: Path, count: int, reps: int) -> tuple[list[Row], dict[str, Any]]:
    """One size on its own cluster; every process stopped before returning."""
    servers = ClusterServers(root / f"cluster-{count}")
    await asyncio.to_thread(servers.start)
    stack = ClusterStack(servers)
    try:
        point = await _measure(stack, servers, count, reps)
    finally:
        await stack.close()
        await asyncio.to_thread(servers.stop)
    return rows(point), point.as_json()


async def _measure(stack: ClusterStack, servers: ClusterServers, count: int, reps: int) -> Point:
    counts = swarm_counts(count)
    point = Point(count, counts, [])
    point.load_average["start"] = load_average()
    await stack.start_controller()
    point.rss_empty = node_rss(servers)
    point.redis_empty = await used_memory(stack)

    started = time.monotonic()
    point.swarm_nodes = await stack.start_swarms(counts, within=60 + count / 20)
    point.online_after_s = round(time.monotonic() - started, 1)
    online = set(await stack.online())

    point.idle_cores = await idle_cores(stack, IDLE_SECONDS)
    point.rss_online = node_rss(servers)
    point.redis_online = await used_memory(stack)
    point.redis_per_job = await redis_per_job(stack, sorted(online))

    for rep in range(reps):
        point.broadcasts.append(await broadcast(stack, online, rep))
    point.rss_after = node_rss(servers)
    point.swarm_rss = [rss_bytes(child.pid) for child in stack.agents]
    point.nats_fanout_s = await ceilings.nats_fanout(
        servers.bench_url(NODES[0]), count, answer_url=servers.bench_url(NODES[1])
    )
    point.load_average["end"] = load_average()
    return point


async def idle_cores(stack: Stack, seconds: float) -> dict[str, float]:
    """CPU of each process over a window with no job: heartbeats and standing pulls."""
    processes = stack.processes()
    before = cpu.sample(processes)
    started = time.monotonic()
    await asyncio.sleep(seconds)  # a measurement window: nothing to wait for
    after = cpu.sample(processes)
    elapsed = time.monotonic() - started
    return {name: (after[name] - before[name]) / elapsed for name in before}


async def redis_per_job(stack: Stack, hostnames: list[str]) -> float:
    """Redis bytes per finished single-host job (its one response included)."""
    step = max(1, len(hostnames) // HOST_JOBS)
    targets = hostnames[::step][:HOST_JOBS]
    before = await used_memory(stack)
    job_ids = [await jobs.submit(stack, host) for host in targets]
    await jobs.wait_all_final(stack, job_ids, 120)
    await jobs.check_all_completed(stack, job_ids)
    return (await used_memory(stack) - before) / len(job_ids)


async def broadcast(stack: Stack, online: set[str], rep: int) -> Broadcast:
    """One ``_all`` ping to every agent, checked; CPU and Redis memory around it."""
    meter = cpu.Meter()
    before = await used_memory(stack)
    meter.start(stack.processes())
    started = time.monotonic()
    job_id = await jobs.submit(stack, "_all", job_timeout=120 + len(online) / 100)
    _, seen = await jobs.wait_final(stack, job_id, 120 + len(online) / 100, poll=0.01)
    spent = meter.stop(f"broadcast {rep}", len(online))
    jobs.check_ping(await jobs.detail(stack, job_id), online, len(online))
    return Broadcast(round(seen - started, 4), spent, await used_memory(stack) - before)


def rows(point: Point) -> list[Row]:
    n = point.agents
    label = f"cluster, {n:,} agents"
    where = f"{len(point.swarm_processes)} swarm processes on 3 nodes, R3"
    consumer_kb = statistics.mean(per_agent(point.rss_empty, point.rss_online, n).values()) / 1024
    runs = ", ".join(f"{b.seconds * 1000:.0f}" for b in point.broadcasts)
    heartbeats = n / HEARTBEAT_INTERVAL  # per second
    controller_idle = point.idle_cores.get(CONTROLLER, 0.0)
    return [
        time_row(
            f"broadcast to {n:,} agents, NATS cluster",
            point.median_broadcast(),
            ceiling=point.nats_fanout_s,
            ceiling_name=f"NATS fan-out to {n:,} across a route",
            notes=f"median of {len(point.broadcasts)} ({runs} ms); {where}",
        ),
        figure_row(f"{label}: online after", point.online_after_s, "s", notes=where),
        figure_row(
            f"{label}: nats-server RSS per agent consumer",
            consumer_kb,
            "KB",
            notes="per node (each holds every R3 consumer), mean of 3 nodes",
        ),
        figure_row(
            f"{label}: nats-server idle CPU, 3 nodes",
            sum(point.idle_cores.get(node, 0.0) for node in NODES),
            "cores",
            notes=f"{IDLE_SECONDS:g} s with heartbeats only",
        ),
        figure_row(
            f"{label}: controller CPU per heartbeat",
            controller_idle / heartbeats * 1e6 if heartbeats else 0.0,
            "µs",
            notes=f"upper bound: all its idle CPU, {controller_idle:.3f} cores, "
            f"over {heartbeats:,.0f} heartbeats/s",
        ),
        figure_row(
            f"{label}: controller CPU per agent-response",
            point.per_response(CONTROLLER),
            "µs",
            notes=f"{point.controller_net_per_response():.1f} µs less the idle rate",
        ),
        figure_row(
            f"{label}: nats-server CPU per agent-response, 3 nodes",
            point.per_response("nats-server"),
            "µs",
        ),
        figure_row(
            f"{label}: Redis memory per registered agent",
            (point.redis_online - point.redis_empty) / n,
            "B",
        ),
        figure_row(f"{label}: Redis memory per single-host job", point.redis_per_job, "B"),
        figure_row(f"{label}: Redis memory per agent-response", point.redis_per_response(), "B"),
    ]


async def run(root: Path, counts: tuple[int, ...], reps: int) -> tuple[list[Row], list[Any]]:
    """Every size in turn, each on a cluster of its own under ``root``, then the
    bare consumers of the same count (bench/consumer_costs.py), R1 and R3."""
    found: list[Row] = []
    series: list[Any] = []
    for count in counts:
        more, point = await measure(root, count, reps)
        found += more
        point["bare_consumers"] = []
        for replicas in (1, 3):
            cost = await consumer_costs.measure(root, count, replicas)
            found += consumer_costs.rows(cost)
            point["bare_consumers"].append(dataclasses.asdict(cost))
        series.append(point)
    return found, series
