"""``python -m bench [--quick]``: start corral, run every scenario, print a table, write JSON.

I/O: processes, sockets, files. Everything runs on loopback: embedded
nats-server and redis-server (the pip-shipped binaries), one controller
process (two workers for the ``workers`` group), agent processes and swarm
processes, all started and stopped here. Around each throughput round it
reads every process's CPU time from /proc and prints CPU per job.
Any correctness failure (a job not terminal, a missing or wrong response)
stops the run with exit status 1; missed targets only show in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import ceilings, cluster_swarm, cpu, fanout, scenarios, watchers
from bench.fold import fold_rate
from bench.report import Row, memory_row, rate_row, table, time_row, write_json
from bench.sizes import SIZES, Sizes
from bench.stack import BenchFailure, Stack, rss_bytes
from devstack.servers import EmbeddedServers
from devstack.until import ConditionTimeout

DEFAULT_OUT = Path(__file__).parent / "results" / "latest.json"
TOP_UP_CHUNK = 10_000


CLUSTER = "cluster-swarm"  # on a three-node NATS cluster of its own (bench/cluster_swarm.py)
GROUPS = ("agents", "workers", "fold", "watchers", "processes", "swarm", "memory", CLUSTER)
# CPU per job, all processes: issue 15's target is 40 % under what a job cost
# before it (docs/performance.md: about 1.1 ms over single POSTs, 0.85 batched).
CPU_LIMIT_MS = {"single": 1.1 * 0.6, "batch": 0.85 * 0.6}
WORKERS = 2  # controller workers set against one controller process


async def run(
    sizes: Sizes, stack: Stack, meter: cpu.Meter, only: frozenset[str] = frozenset(GROUPS)
) -> tuple[list[Row], dict[str, object]]:
    rows: list[Row] = []
    single = scenarios.Metered(meter, CPU_LIMIT_MS["single"])
    batched = scenarios.Metered(meter, CPU_LIMIT_MS["batch"])
    url = stack.nats_url
    js_ceiling = await ceilings.jetstream_fetch_ack(url, sizes.ceiling_messages)
    redis_ceiling = await ceilings.redis_hset(str(stack.servers.redis.url), sizes.ceiling_messages)
    core_rtt = await ceilings.nats_fanout(url, 1, reps=50)
    rows += [
        rate_row("ceiling: JetStream fetch(256)+ack", js_ceiling, "msgs/s"),
        rate_row("ceiling: pipelined Redis HSET", redis_ceiling, "ops/s"),
        time_row("ceiling: NATS request/reply (fan-out to 1)", core_rtt),
    ]
    await stack.start_controller()
    claim_p50, claim_rate = await ceilings.claims(url, sizes.ceiling_messages // 10)
    rows += [
        time_row("claim of an _any job, p50", claim_p50, notes="one at a time"),
        rate_row("claims of _any jobs", claim_rate, "claims/s", notes="64 in flight, 1 process"),
    ]

    total_jobs = 0
    if "agents" in only:
        # Three agent processes: round trip, throughput, a 3-agent job to read.
        hosts = await stack.start_agents(3)
        agent_rss = max(rss_bytes(p.pid) for p in stack.agents)
        rows += await scenarios.round_trip(stack, sizes.round_trips, core_rtt)
        rows += await scenarios.round_trip(stack, sizes.round_trips, core_rtt, hosts[0])
        found, job_ids = await scenarios.throughput(
            stack, sizes.throughput_jobs, 32, js_ceiling, meter=single
        )
        rows += found
        # The same to named agents, which take no claim: the claim's cost on throughput.
        found, host_ids = await scenarios.throughput(
            stack, sizes.throughput_jobs, 32, js_ceiling, hosts, meter=scenarios.Metered(meter)
        )
        rows += found
        found, batch_ids = await scenarios.throughput_batch(
            stack, sizes.throughput_jobs, 32, 100, js_ceiling, meter=batched
        )
        rows += found
        total_jobs += 2 * sizes.round_trips + len(job_ids) + len(host_ids) + len(batch_ids) + 2
        _, three_agent_job = await fanout.broadcast(stack, set(hosts), 2)
        rows += await scenarios.detail_reads(
            stack,
            three_agent_job,
            3,
            seconds=sizes.read_seconds,
            clients=16,
            p99_limit=0.020,
            floor=3000,
        )
        rows.append(memory_row("RSS, idle agent process", agent_rss, limit_mb=50))
        await stack.stop_agents()

    if "workers" in only:
        found, handled = await workers(stack, sizes, js_ceiling, meter)
        rows += found
        total_jobs += handled

    if "fold" in only:
        rows.append(await fold_rate(stack, sizes.fold_jobs, js_ceiling, redis_ceiling))
        total_jobs += sizes.fold_jobs

    if "watchers" in only:
        # Round trip and fold rate again, without and with SSE watchers attached.
        await stack.start_agents(3)
        rows += await watchers.round_trips(stack, sizes.round_trips, core_rtt)
        await stack.stop_agents()
        rows += await watchers.fold_rates(stack, sizes.fold_jobs, js_ceiling, redis_ceiling)
        total_jobs += watchers.warm_up(sizes.round_trips) + 2 * sizes.round_trips
        total_jobs += 2 * sizes.fold_jobs

    out = fanout.Fanout()
    if "processes" in only:
        await fanout.processes(stack, sizes.processes, sizes.reps, out)
        total_jobs += sizes.reps
    if "swarm" in only:
        for count in sizes.swarms:
            await fanout.swarm(stack, count, sizes.reps, out, big=sizes.big_swarm)
        total_jobs += sizes.reps * len(sizes.swarms)
    rows += out.rows
    if out.big_job is not None:
        job_id, agents = out.big_job
        rows += await scenarios.detail_reads(
            stack,
            job_id,
            agents,
            seconds=sizes.read_seconds,
            clients=8,
            p99_limit=0.050,
            floor=None,
        )

    if "memory" not in only:
        return rows, {"fanout_series": out.series, "controller_jobs": total_jobs}
    total_jobs += await top_up(stack, sizes.controller_jobs - total_jobs)
    assert stack.controller is not None
    rows.append(
        memory_row(
            f"RSS, controller after {total_jobs:,} jobs",
            rss_bytes(stack.controller.pid),
            limit_mb=200,
        )
    )
    return rows, {"fanout_series": out.series, "controller_jobs": total_jobs}


async def workers(
    stack: Stack, sizes: Sizes, js_ceiling: float, meter: cpu.Meter
) -> tuple[list[Row], int]:
    """Throughput of one controller process, then of WORKERS workers on the same
    port, back to back in this run; the controller is one process again after."""
    rows: list[Row] = []
    await stack.start_agents(3)
    count = sizes.throughput_jobs
    for processes in (1, WORKERS):
        await stack.restart_controller(processes)
        label = ", 1 controller process" if processes == 1 else f", {processes} controller workers"
        found, _ = await scenarios.throughput(
            stack, count, 32, js_ceiling, meter=scenarios.Metered(meter), label=label
        )
        rows += found
        found, _ = await scenarios.throughput_batch(
            stack, count, 32, 100, js_ceiling, meter=scenarios.Metered(meter), label=label
        )
        rows += found
    await stack.restart_controller(1)
    await stack.stop_agents()
    return rows, 4 * count


async def top_up(stack: Stack, missing: int) -> int:
    """More single-target jobs until the controller has handled ``controller_jobs``."""
    if missing <= 0:
        return 0
    await stack.start_agents(3)
    done = 0
    # In chunks that drain well within the jobs' deadline: a backlog larger than
    # the agents can run before it would fail as "expired", correctly.
    while done < missing:
        chunk = min(TOP_UP_CHUNK, missing - done)
        _, job_ids = await scenarios.throughput(stack, chunk, 32, 1.0)
        done += len(job_ids)
    await stack.stop_agents()
    return done


def single_node(
    sizes: Sizes, meter: cpu.Meter, only: frozenset[str]
) -> tuple[list[Row], dict[str, object]]:
    """Every group but the cluster's, on one nats-server and one redis-server."""
    with EmbeddedServers() as servers:
        stack = Stack(servers)

        async def go() -> tuple[list[Row], dict[str, object]]:
            try:
                return await run(sizes, stack, meter, only)
            finally:
                await stack.close()

        return asyncio.run(go())


def clustered(sizes: Sizes) -> tuple[list[Row], list[object]]:
    """The cluster-swarm group; its run directory (logs) is kept only if it fails."""
    root = Path(tempfile.mkdtemp(prefix="corral-cluster-bench-"))
    try:
        found = asyncio.run(cluster_swarm.run(root, sizes.cluster_swarms, sizes.reps))
    except BaseException:
        print(f"cluster-swarm logs kept under {root}", file=sys.stderr)
        raise
    shutil.rmtree(root, ignore_errors=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, under 2 minutes")
    parser.add_argument("--sizes", choices=sorted(SIZES), help="a named size set (overrides)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON file")
    parser.add_argument(
        "--swarm",
        type=int,
        action="append",
        metavar="N",
        help="swarm sizes to broadcast to instead of the size set's (repeatable), e.g. 10000",
    )
    parser.add_argument(
        "--cluster-swarm",
        type=int,
        action="append",
        metavar="N",
        help=f"agents of the {CLUSTER} group instead of the size set's (repeatable), e.g. 30000",
    )
    parser.add_argument(
        "--only",
        type=lambda text: frozenset(text.split(",")),
        default=frozenset(GROUPS),
        metavar="GROUPS",
        help=f"comma-separated scenario groups to run, of: {','.join(GROUPS)}",
    )
    args = parser.parse_args(argv)
    if unknown := args.only - set(GROUPS):
        choices = ",".join(GROUPS)
        parser.error(f"unknown group(s) {','.join(sorted(unknown))}; choose from {choices}")
    name = args.sizes or ("quick" if args.quick else "full")
    sizes = SIZES[name]
    if args.swarm:
        sizes = dataclasses.replace(sizes, swarms=tuple(args.swarm))
    if args.cluster_swarm:
        sizes = dataclasses.replace(sizes, cluster_swarms=tuple(args.cluster_swarm))
    if args.only == {CLUSTER} and not sizes.cluster_swarms:
        parser.error(f"the {name} sizes run no {CLUSTER}; name its sizes with --cluster-swarm N")
    started = time.monotonic()
    meter = cpu.Meter()
    rows: list[Row] = []
    extra: dict[str, object] = {}
    try:
        if args.only - {CLUSTER}:
            rows, extra = single_node(sizes, meter, args.only)
        if CLUSTER in args.only and sizes.cluster_swarms:
            found, series = clustered(sizes)
            rows += found
            extra["cluster_series"] = series
    except (BenchFailure, ConditionTimeout) as exc:  # a stack that never came up fails too
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(table(rows))
    if meter.rounds:
        print(f"\n{cpu.cpu_table(meter.rounds)}")
    extra["cpu_ms_per_job"] = meter.rounds
    write_json(args.out, rows, {"sizes": name, "seconds": round(elapsed, 1), **extra})
    print(f"\n{name} run in {elapsed:.0f}s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
