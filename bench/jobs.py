"""Submitting jobs and checking they ended right. I/O: HTTP, Redis.

A job is watched through its record's ``status`` field in Redis (the same
field ``GET /job/{id}`` renders from), so waiting costs one HGET per poll and
does not load the API being measured; correctness is then checked on the
rendered detail from the API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.stack import BenchFailure, Stack
from common.job import FINAL_STATUSES
from controller.store.keys import job_key

PING = {"type": "test.ping", "data": {}}


async def submit(stack: Stack, target: str, job_timeout: float = 60.0) -> str:
    body = {"operation": PING, "target": target, "timeout": job_timeout}
    response = await stack.api.post("/job", json=body)
    if response.status_code != 201:
        raise BenchFailure(f"submit to {target} refused: {response.status_code} {response.text}")
    return str(response.json()["job_id"])


async def status_of(stack: Stack, job_id: str) -> str:
    raw = await stack.redis.hget(job_key(job_id), "status")
    if raw is None:
        return "missing"
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def wait_final(
    stack: Stack, job_id: str, within: float, poll: float | None = None
) -> tuple[str, float]:
    """Poll until final; returns the status and the monotonic time it was seen."""
    deadline = time.monotonic() + within
    while True:
        status = await status_of(stack, job_id)
        if status in FINAL_STATUSES:
            return status, time.monotonic()
        if time.monotonic() > deadline:
            raise BenchFailure(f"job {job_id} still {status} after {within:g}s")
        # A tight poll: the scenarios measure milliseconds, and HGET is cheap.
        await asyncio.sleep(poll if poll is not None else 0.0005 if within < 10 else 0.005)


async def wait_all_final(stack: Stack, job_ids: list[str], within: float) -> float:
    """Wait until every job is final (pipelined HGETs); returns the time it was seen."""
    deadline = time.monotonic() + within
    pending = list(job_ids)
    while pending:
        async with stack.redis.pipeline(transaction=False) as pipe:
            for job_id in pending:
                pipe.hget(job_key(job_id), "status")
            statuses = await pipe.execute()
        pending = [
            j
            for j, s in zip(pending, statuses, strict=True)
            if not s or s.decode() not in FINAL_STATUSES
        ]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise BenchFailure(f"{len(pending)} of {len(job_ids)} jobs not final after {within:g}s")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def detail(stack: Stack, job_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/job/{job_id}")
    if response.status_code != 200:
        raise BenchFailure(f"GET /job/{job_id}: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


def check_ping(found: dict[str, Any], hostnames: set[str] | None, responses: int) -> None:
    """Completed, with exactly the expected responses, each a pong."""
    job_id = found["id"]
    if found["status"] != "completed":
        raise BenchFailure(f"job {job_id} ended {found['status']}: {found.get('error')}")
    got = found["responses"]
    if len(got) != responses:
        raise BenchFailure(f"job {job_id}: {len(got)} responses, expected {responses}")
    if hostnames is not None and set(got) != hostnames:
        missing = sorted(hostnames - set(got))[:5]
        raise BenchFailure(f"job {job_id}: responses from the wrong agents (missing {missing})")
    for hostname, answer in got.items():
        if answer["status"] != "completed" or answer["data"] != {"pong": True}:
            raise BenchFailure(f"job {job_id}: {hostname} answered {answer}")


async def check_all_completed(stack: Stack, job_ids: list[str], responses: int = 1) -> None:
    """Every job's record says completed (one pipeline), then a sample in full."""
    async with stack.redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(job_key(job_id), "status")
        statuses = await pipe.execute()
    bad = [(j, s) for j, s in zip(job_ids, statuses, strict=True) if s != b"completed"]
    if bad:
        raise BenchFailure(f"{len(bad)} of {len(job_ids)} jobs did not complete, e.g. {bad[:3]}")
    step = max(1, len(job_ids) // 20)
    for job_id in job_ids[::step]:
        check_ping(await detail(stack, job_id), None, responses)
