"""Single-target scenarios over HTTP: round trip, throughput, job detail reads. I/O: HTTP, Redis.

Jobs are ``test.ping`` to ``_any`` (one of the running agents; the round trip
also to one named agent, which takes no claim). Submissions
go through :mod:`bench.loadgen` connections so the client costs little; a
job's end is watched in Redis, then checked on the API's rendered detail.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from bench import jobs, loadgen
from bench.report import Row, rate_row, time_row
from bench.stack import BenchFailure, Stack

SUBMIT = {"operation": jobs.PING, "target": "_any", "timeout": 120}
TAIL = 32  # jobs watched while a throughput run drains
MSGS_PER_JOB = 2  # the job, and one message holding its events (agent/events.py)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def submit_one(connection: loadgen.Connection, body: dict[str, object] | bytes) -> str:
    status, payload = await connection.request("POST", "/job", body)
    if status != 201:
        raise BenchFailure(f"POST /job: {status} {payload[:200]!r}")
    return str(json.loads(payload)["job_id"])


async def round_trip(
    stack: Stack, count: int, core_rtt: float, host: str | None = None
) -> list[Row]:
    """Sequential jobs: POST to the record completed, one at a time.

    To ``_any`` (each claimed by the agent that runs it), or to ``host``
    (no claim): the difference is what the claim costs a job.
    """
    latencies = await round_trip_latencies(stack, count, host)
    note = f"{count} sequential jobs"
    if host is not None:
        name = "round trip p50, host target (no claim)"
        return [time_row(name, statistics.median(latencies), notes=f"{note} to one agent")]
    return [
        time_row(
            "round trip p50",
            statistics.median(latencies),
            limit=0.005,
            ceiling=core_rtt,
            ceiling_name="NATS request/reply",
            notes=note,
        ),
        time_row("round trip p99", quantile(latencies, 0.99), notes=note),
    ]


async def round_trip_latencies(stack: Stack, count: int, host: str | None = None) -> list[float]:
    """Seconds from POST to the record completed, of ``count`` jobs one at a time; checked."""
    [connection] = await loadgen.open_pool(stack.url, stack.api_key, 1)
    latencies, job_ids = [], []
    body = SUBMIT if host is None else {**SUBMIT, "target": host}
    try:
        for _ in range(count):
            started = time.monotonic()
            job_id = await submit_one(connection, body)
            # Polled every 0.5 ms: a 5 ms poll would add ~2.5 ms to a 5 ms target.
            _, seen = await jobs.wait_final(stack, job_id, 30, poll=0.0005)
            latencies.append(seen - started)
            job_ids.append(job_id)
    finally:
        await loadgen.close_pool([connection])
    await jobs.check_all_completed(stack, job_ids)
    return latencies


async def throughput(
    stack: Stack, count: int, clients: int, js_ceiling: float, hosts: list[str] | None = None
) -> tuple[list[Row], list[str]]:
    """``count`` jobs from ``clients`` concurrent connections; until all are terminal.

    To ``_any``, or (``hosts``) to each named agent in turn, which takes no claim.
    """
    pool = await loadgen.open_pool(stack.url, stack.api_key, clients)
    job_ids: list[str] = []
    targets = hosts or ["_any"]
    bodies = [json.dumps({**SUBMIT, "target": target}).encode() for target in targets]

    async def client(connection: loadgen.Connection, share: int) -> None:
        for index in range(share):
            job_ids.append(await submit_one(connection, bodies[index % len(bodies)]))

    started = time.monotonic()
    try:
        await asyncio.gather(
            *(client(c, s) for c, s in zip(pool, split(count, clients), strict=True))
        )
    finally:
        await loadgen.close_pool(pool)
    note = f"{count} jobs, {clients} clients, 3 agent processes"
    kind = ", host targets (no claim)" if hosts else ""
    rows = await _finish(stack, job_ids, started, kind, note, js_ceiling)
    return rows, job_ids


async def throughput_batch(
    stack: Stack, count: int, clients: int, size: int, js_ceiling: float
) -> tuple[list[Row], list[str]]:
    """``count`` jobs in ``POST /job/batch`` requests of ``size`` from ``clients`` connections."""
    pool = await loadgen.open_pool(stack.url, stack.api_key, clients)
    job_ids: list[str] = []
    batches = [size] * (count // size) + ([count % size] if count % size else [])
    # Bodies are encoded once: the load generator shares the controller's cores.
    bodies = {n: json.dumps({"jobs": [SUBMIT] * n}).encode() for n in set(batches)}

    async def client(connection: loadgen.Connection, mine: list[int]) -> None:
        for n in mine:
            status, payload = await connection.request("POST", "/job/batch", bodies[n])
            if status != 201:
                raise BenchFailure(f"POST /job/batch: {status} {payload[:200]!r}")
            got = [job["job_id"] for job in json.loads(payload)["jobs"]]
            if len(got) != n:
                raise BenchFailure(f"POST /job/batch of {n}: {len(got)} job ids")
            job_ids.extend(got)

    started = time.monotonic()
    try:
        await asyncio.gather(*(client(c, batches[i::clients]) for i, c in enumerate(pool)))
    finally:
        await loadgen.close_pool(pool)
    if len(set(job_ids)) != count:
        raise BenchFailure(f"batch submits: {len(set(job_ids))} distinct job ids, expected {count}")
    note = f"{count} jobs in batches of {size}, {clients} clients, 3 agent processes"
    rows = await _finish(stack, job_ids, started, ", batch", note, js_ceiling)
    return rows, job_ids


def split(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


async def _finish(
    stack: Stack, job_ids: list[str], started: float, kind: str, note: str, js_ceiling: float
) -> list[Row]:
    """Wait until every job is terminal, check them, and rate the run."""
    count = len(job_ids)
    submitted = time.monotonic()
    within = 120 + count / 100
    # Poll the newest jobs until they end, then all of them: polling thousands
    # of records every 20 ms would load the Redis and the cores being measured.
    await jobs.wait_all_final(stack, job_ids[-TAIL:], within)
    finished = await jobs.wait_all_final(stack, job_ids, within)
    await jobs.check_all_completed(stack, job_ids)
    return [
        rate_row(
            f"throughput{kind}, end to end",
            count / (finished - started),
            "jobs/s",
            floor=2000,
            ceiling=js_ceiling / MSGS_PER_JOB,
            ceiling_name=f"JetStream fetch+ack / {MSGS_PER_JOB} msgs per job",
            notes=note,
        ),
        rate_row(
            f"throughput{kind}, submit only", count / (submitted - started), "jobs/s", notes=note
        ),
    ]


async def detail_reads(
    stack: Stack,
    job_id: str,
    agents: int,
    *,
    seconds: float,
    clients: int,
    p99_limit: float,
    floor: float | None,
) -> list[Row]:
    """``GET /job/{id}`` from ``clients`` concurrent connections for ``seconds``."""

    def check(payload: bytes) -> None:
        found = json.loads(payload)
        jobs.check_ping(found, None, agents)

    pool = await loadgen.open_pool(stack.url, stack.api_key, clients)
    try:
        started = time.perf_counter()
        latencies = await loadgen.hammer(pool, f"/job/{job_id}", seconds, check)
        elapsed = time.perf_counter() - started
    finally:
        await loadgen.close_pool(pool)
    name = f"GET /job/{{id}}, {agents:,}-agent job"
    note = f"{clients} keep-alive clients for {seconds:g}s, {len(latencies)} requests"
    return [
        rate_row(f"{name}, rate", len(latencies) / elapsed, "req/s", floor=floor, notes=note),
        time_row(f"{name}, p99", quantile(latencies, 0.99), limit=p99_limit, notes=note),
    ]
