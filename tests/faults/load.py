"""Mixed job load for fault scenarios and the soak. I/O: the API.

A round submits, in order: read-only ``_any`` sleeps, one broadcast ping,
one side-effect counter job per named host, and (``any_effects``) side-effect
counter jobs for ``_any``, whose runs the checker counts across agents. Every accepted job is
handed to the checker; a refused submit (503 while a dependency is down) is
counted, not tracked: only accepted (201) jobs carry promises.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.faults.checker import Checker
from tests.faults.cluster import Cluster, counter_op


async def submit_tracked(
    cluster: Cluster,
    checker: Checker,
    body: dict[str, Any],
    job_timeout: float,
    refused: Counter[int],
    *,
    counter: Path | None = None,
    token: str = "",
    any_agent: bool = False,
) -> str | None:
    try:
        response = await cluster.api.post("/job", json={**body, "timeout": job_timeout})
    except httpx.HTTPError:
        refused[0] += 1  # the controller itself is down or restarting
        return None
    if response.status_code != 201:
        refused[response.status_code] += 1
        return None
    job_id = str(response.json()["job_id"])
    checker.track(job_id, job_timeout, counter=counter, token=token, any_agent=any_agent)
    return job_id


async def load_round(
    cluster: Cluster,
    checker: Checker,
    counter: Path,
    hosts: list[str],
    *,
    job_timeout: float,
    refused: Counter[int],
    any_jobs: int = 4,
    any_effects: int = 0,
    rng: random.Random | None = None,
) -> None:
    rng = rng or random.Random()
    for _ in range(any_jobs):
        seconds = round(rng.uniform(0.0, 0.5), 2)
        body: dict[str, Any] = {"operation": {"type": "test.sleep", "data": {"seconds": seconds}}}
        await submit_tracked(
            cluster, checker, {**body, "target": "_any"}, job_timeout, refused, any_agent=True
        )
    ping = {"operation": {"type": "test.ping", "data": {}}, "target": "_all"}
    await submit_tracked(cluster, checker, ping, job_timeout, refused)
    for host in hosts:
        op, data, token = counter_op(counter, seconds=round(rng.uniform(0.0, 0.3), 2))
        body = {"operation": {"type": op, "data": data}, "target": host}
        await submit_tracked(
            cluster, checker, body, job_timeout, refused, counter=counter, token=token
        )
    for _ in range(any_effects):
        op, data, token = counter_op(counter, seconds=round(rng.uniform(0.0, 0.5), 2))
        body = {"operation": {"type": op, "data": data}, "target": "_any"}
        await submit_tracked(
            cluster,
            checker,
            body,
            job_timeout,
            refused,
            counter=counter,
            token=token,
            any_agent=True,
        )
