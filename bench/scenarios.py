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
from dataclasses import dataclass

from bench import cpu, jobs, loadgen
from bench.report import Row, rate_row, time_row
from bench.stack import BenchFailure, Stack

SUBMIT = {"operation": jobs.PING, "target": "_any", "timeout": 120}
TAIL = 32  # jobs watched while a throughput run drains
MSGS_PER_JOB = 2  # the job, and one message holding its events (agent/events.py)
WAIT = 30  # seconds a synchronous submit may wait (docs/api.md)
SINGLE_FLOOR, BATCH_FLOOR = 3000, 5000  # jobs/s end to end: issue 15's targets


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
    """Sequential synchronous submits (``POST /job?wait=``), one at a time: from
    the request written to the completed job's detail read, as a user waits.

    To ``_any`` (each claimed by the agent that runs it), or to ``host``
    (no claim): the difference is what the claim costs a job.
    """
    latencies = await round_trip_latencies(stack, count, host)
    note = f"{count} sequential POST /job?wait={WAIT}"
    if host is not None:
        name = "round trip p50, host target (no claim)"
        return [time_row(name, statistics.median(latencies), notes=f"{note} to one agent")]
    return [
        time_row(
            "round trip p50",
            statistics.median(latencies),
            limit=0.002,
            ceiling=core_rtt,
            ceiling_name="NATS request/reply",
            notes=note,
        ),
        time_row("round trip p99", quantile(latencies, 0.99), limit=0.004, notes=note),
    ]


async def round_trip_latencies(stack: Stack, count: int, host: str | None = None) -> list[float]:
    """Seconds from POST to the completed detail, through the synchronous submit
    (``POST /job?wait=``), of ``count`` jobs one at a time; each answer checked."""
    [connection] = await loadgen.open_pool(stack.url, stack.api_key, 1)
    latencies = []
    body = json.dumps(SUBMIT if host is None else {**SUBMIT, "target": host}).encode()
    expected = None if host is None else {host}
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, payload = await connection.request("POST", f"/job?wait={WAIT}", body)
            latencies.append(time.perf_counter() - started)
            if status != 201:
                raise BenchFailure(f"POST /job?wait={WAIT}: {status} {payload[:200]!r}")
            jobs.check_ping(json.loads(payload), expected, 1)
    finally:
        await loadgen.close_pool([connection])
    return latencies


async def throughput(
    stack: Stack,
    count: int,
    clients: int,
    js_ceiling: float,
    hosts: list[str] | None = None,
    *,
    meter: Metered | None = None,
    label: str = "",
) -> tuple[list[Row], list[str]]:
    """``count`` jobs from ``clients`` concurrent connections; until all are terminal.

    To ``_any``, or (``hosts``) to each named agent in turn, which takes no claim.
    ``label`` names the controller set-up in the rows (e.g. two workers).
    """
    pool = await loadgen.open_pool(stack.url, stack.api_key, clients)
    job_ids: list[str] = []
    targets = hosts or ["_any"]
    bodies = [json.dumps({**SUBMIT, "target": target}).encode() for target in targets]

    async def client(connection: loadgen.Connection, share: int) -> None:
        for index in range(share):
            job_ids.append(await submit_one(connection, bodies[index % len(bodies)]))

    kind = (", host targets (no claim)" if hosts else "") + label
    metered = _start(stack, meter)
    started = time.monotonic()
    try:
        await asyncio.gather(
            *(client(c, s) for c, s in zip(pool, split(count, clients), strict=True))
        )
    finally:
        await loadgen.close_pool(pool)
    note = f"{count} jobs, {clients} clients, 3 agent processes"
    rows = await _finish(stack, job_ids, started, kind, note, js_ceiling, metered)
    return rows, job_ids


async def throughput_batch(
    stack: Stack,
    count: int,
    clients: int,
    size: int,
    js_ceiling: float,
    *,
    meter: Metered | None = None,
    label: str = "",
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

    metered = _start(stack, meter)
    started = time.monotonic()
    try:
        await asyncio.gather(*(client(c, batches[i::clients]) for i, c in enumerate(pool)))
    finally:
        await loadgen.close_pool(pool)
    if len(set(job_ids)) != count:
        raise BenchFailure(f"batch submits: {len(set(job_ids))} distinct job ids, expected {count}")
    note = f"{count} jobs in batches of {size}, {clients} clients, 3 agent processes"
    kind = ", batch" + label
    rows = await _finish(stack, job_ids, started, kind, note, js_ceiling, metered, BATCH_FLOOR)
    return rows, job_ids


def split(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


@dataclass(frozen=True)
class Metered:
    """A round to read CPU around: the meter, and the target for its total (ms per job)."""

    meter: cpu.Meter
    limit_ms: float | None = None


def _start(stack: Stack, metered: Metered | None) -> Metered | None:
    if metered is not None:
        metered.meter.start(stack.processes())
    return metered


async def _finish(
    stack: Stack,
    job_ids: list[str],
    started: float,
    kind: str,
    note: str,
    js_ceiling: float,
    metered: Metered | None = None,
    floor: float = SINGLE_FLOOR,
) -> list[Row]:
    """Wait until every job is terminal, check them, and rate the run."""
    count = len(job_ids)
    submitted = time.monotonic()
    within = 120 + count / 100
    # Poll the newest jobs until they end, then all of them: polling thousands
    # of records every 20 ms would load the Redis and the cores being measured.
    await jobs.wait_all_final(stack, job_ids[-TAIL:], within)
    finished = await jobs.wait_all_final(stack, job_ids, within)
    cpu_rows = []
    if metered is not None:  # before the checks: their reads are no part of the round
        name = f"throughput{kind}"
        found = metered.meter.stop(name, count)
        cpu_rows.append(cpu.cpu_row(name, found, metered.limit_ms, count))
    await jobs.check_all_completed(stack, job_ids)
    return [
        rate_row(
            f"throughput{kind}, end to end",
            count / (finished - started),
            "jobs/s",
            floor=floor,
            ceiling=js_ceiling / MSGS_PER_JOB,
            ceiling_name=f"JetStream fetch+ack / {MSGS_PER_JOB} msgs per job",
            notes=note,
        ),
        rate_row(
            f"throughput{kind}, submit only", count / (submitted - started), "jobs/s", notes=note
        ),
        *cpu_rows,
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
