"""Broadcast fan-out: ``_all`` ``test.ping`` to agent processes and to swarms. I/O: all.

The time is from just before ``POST /job`` to the record ``completed`` with
every expected response folded; each broadcast is checked for exactly one
pong from every online agent. The bare NATS fan-out ceiling for the same N
is measured in the same run (:func:`bench.ceilings.nats_fanout`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench import ceilings, jobs
from bench.report import Row, memory_row, time_row
from bench.stack import Stack, rss_bytes

TARGETS = {50: 0.25, 1000: 1.0, 10_000: 5.0}


@dataclass
class Fanout:
    """What one fan-out run leaves for later scenarios."""

    rows: list[Row] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    big_job: tuple[str, int] | None = None  # a finished broadcast job and its agent count


async def broadcast(stack: Stack, agents: set[str], reps: int) -> tuple[list[float], str]:
    """``reps`` broadcasts one after another; their durations and the last job id."""
    times, job_id = [], ""
    for _ in range(reps):
        started = time.monotonic()
        job_id = await jobs.submit(stack, "_all", job_timeout=120)
        _, seen = await jobs.wait_final(stack, job_id, 120)
        times.append(seen - started)
        jobs.check_ping(await jobs.detail(stack, job_id), agents, len(agents))
    return times, job_id


async def processes(stack: Stack, count: int, reps: int, out: Fanout) -> None:
    await stack.start_agents(count, prefix="proc")
    agents = set(await stack.online())
    times, _ = await broadcast(stack, agents, reps)
    ceiling = await ceilings.nats_fanout(stack.nats_url, count)
    await stack.stop_agents()
    out.rows.append(
        time_row(
            f"broadcast to {count} agent processes",
            statistics.median(times),
            limit=TARGETS.get(count),
            ceiling=ceiling,
            ceiling_name=f"NATS fan-out to {count}",
            notes=f"median of {reps}: {', '.join(f'{t * 1000:.0f}' for t in times)} ms",
        )
    )


async def swarm(stack: Stack, count: int, reps: int, out: Fanout, big: int) -> None:
    started = time.monotonic()
    process = await stack.start_swarm(count, 120 + count / 20)
    online_after = time.monotonic() - started
    rss = rss_bytes(process.pid)
    agents = set(await stack.online())
    times, job_id = await broadcast(stack, agents, reps)
    ceiling = await ceilings.nats_fanout(stack.nats_url, count)
    if count == big:
        out.big_job = (job_id, count)
        out.rows.append(memory_row(f"RSS, swarm of {count:,} agents", rss))
    await stack.stop_agents()
    median = statistics.median(times)
    out.series.append(
        {
            "agents": count,
            "broadcast_s": round(median, 4),
            "runs_s": [round(t, 4) for t in times],
            "nats_fanout_s": round(ceiling, 4),
            "online_after_s": round(online_after, 2),
            "swarm_rss_mb": round(rss / 2**20, 1),
        }
    )
    out.rows.append(
        time_row(
            f"broadcast to {count:,} swarm agents",
            median,
            limit=TARGETS.get(count),
            ceiling=ceiling,
            ceiling_name=f"NATS fan-out to {count:,}",
            notes=f"median of {reps}; one swarm process; online after {online_after:.1f}s",
        )
    )
