"""``POST /job/batch`` and group commit against a real controller, agents, NATS and Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral_sdk.client import Client
from corral_sdk.errors import ApiError
from devstack.process import ServerProcess
from tests.controller.api.test_app import assert_error
from tests.harness import ADMIN_KEY, READER_KEY, Stack, running_stack

HOSTS = ("web-1.dev.local", "web-2.dev.local")


def echo(value: int, target: str = "_any") -> dict[str, Any]:
    return {"operation": {"type": "test.echo", "data": {"data": value}}, "target": target}


async def job_count(stack: Stack) -> int:
    listing = (await stack.api.get("/job", params={"limit": 1})).json()
    return int(listing["total_items"])


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_a_batch_runs_every_job_and_answers_in_request_order(stack: Stack) -> None:
    for host in HOSTS:
        await stack.start_agent(host)
    jobs = [echo(i, HOSTS[i % 2] if i % 3 else "_any") for i in range(30)]
    response = await stack.api.post("/job/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    answered = response.json()["jobs"]
    assert [set(a) for a in answered] == [{"job_id", "status"}] * 30
    assert {a["status"] for a in answered} == {"submitted"}
    ids = [a["job_id"] for a in answered]
    assert len(set(ids)) == 30
    for index, job_id in enumerate(ids):
        detail = await stack.final(job_id)
        assert detail["status"] == "completed"
        assert detail["result"] == index  # the i-th answer is the i-th job
        if index % 3:
            assert detail["hostname"] == HOSTS[index % 2]
    listing = (await stack.api.get("/job", params={"status": "completed", "limit": 100})).json()
    assert listing["total_items"] == 30
    assert listing["status_counts"]["submitted"] == 0  # filed as submitted, moved on when done
    assert {item["id"] for item in listing["items"]} == set(ids)


async def test_one_bad_item_is_a_400_naming_it_and_nothing_is_created(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    bad_field = [echo(0), echo(1), {**echo(2), "timeout": "5"}]
    response = await stack.api.post("/job/batch", json={"jobs": bad_field})
    assert_error(response, 400, "Invalid request parameters.")
    assert response.json()["details"].startswith("jobs[2].timeout: Expected")
    # Caught only when the target is resolved, after every body check: still nothing written.
    unknown_host = [echo(0), echo(1, "nobody.dev.local")]
    response = await stack.api.post("/job/batch", json={"jobs": unknown_host})
    assert_error(response, 400)
    assert response.json()["details"].startswith("jobs[1].target: no registered agent")
    unknown_op = [echo(0), {"operation": {"type": "test.nope"}}]
    response = await stack.api.post("/job/batch", json={"jobs": unknown_op})
    assert_error(response, 400)
    assert response.json()["details"].startswith("jobs[1].operation.type: unknown operation")
    assert_error(await stack.api.post("/job/batch", json={"jobs": []}), 400)
    assert await job_count(stack) == 0


async def test_batch_limits_count_and_body_size(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        nats_server.url, redis_db_url, tmp_path, max_batch_jobs=3, max_body_bytes=4096
    ) as stack:
        await stack.start_agent(HOSTS[0])
        too_many = await stack.api.post("/job/batch", json={"jobs": [echo(i) for i in range(4)]})
        assert_error(too_many, 400)
        assert too_many.json()["details"] == "jobs: must hold 1 to 3 jobs, got 4"
        big = json.dumps({"jobs": [echo(1) | {"pad": "x" * 5000}]})
        assert_error(await stack.api.post("/job/batch", content=big), 413)
        ok = await stack.api.post("/job/batch", json={"jobs": [echo(i) for i in range(3)]})
        assert ok.status_code == 201, ok.text
        assert await job_count(stack) == 3


async def test_batch_needs_the_job_write_scope(stack: Stack) -> None:
    body = {"jobs": [echo(1)]}
    reader = {"Authorization": f"Bearer {READER_KEY}"}
    assert_error(await stack.api.post("/job/batch", json=body, headers=reader), 403)
    async with httpx.AsyncClient(base_url=stack.api.base_url) as anonymous:
        assert_error(await anonymous.post("/job/batch", json=body), 401)


async def test_batch_never_clashes_with_a_job_id(stack: Stack) -> None:
    # GET and DELETE /job/batch reach the job routes: "batch" is not a UUID.
    assert "not a UUID" in (await stack.api.get("/job/batch")).json()["details"]
    assert_error(await stack.api.delete("/job/batch"), 400)
    assert_error(await stack.api.put("/job/batch"), 405)


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_an_idempotency_key_makes_the_whole_batch_idempotent(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    jobs = [echo(i, HOSTS[0]) for i in range(5)]
    headers = {"Idempotency-Key": "nightly-2026-11-29"}
    first = await stack.api.post("/job/batch", json={"jobs": jobs}, headers=headers)
    assert first.status_code == 201, first.text
    ids = [a["job_id"] for a in first.json()["jobs"]]
    for job_id in ids:
        await stack.final(job_id)
    again = await stack.api.post("/job/batch", json={"jobs": jobs}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {"jobs": [{"job_id": j, "status": "completed"} for j in ids]}
    other = await stack.api.post("/job/batch", json={"jobs": jobs[:4]}, headers=headers)
    assert_error(other, 422)
    # Keys are scoped per route: the same key on a single submit is another request.
    single = await stack.api.post("/job", json=jobs[0], headers=headers)
    assert single.status_code == 201
    assert await job_count(stack) == 6


async def test_concurrent_identical_batches_with_one_key_create_one_batch(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    body = {"jobs": [echo(i, HOSTS[0]) for i in range(10)]}
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(stack.api.post("/job/batch", json=body, headers=headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({tuple(a["job_id"] for a in r.json()["jobs"]) for r in responses}) == 1
    assert await job_count(stack) == 10


async def test_concurrent_single_submits_are_distinct_jobs_that_all_complete(
    stack: Stack,
) -> None:
    """Group commit: requests share commits, yet each gets its own job."""
    for host in HOSTS:
        await stack.start_agent(host)
    responses = await asyncio.gather(*(stack.api.post("/job", json=echo(i)) for i in range(60)))
    assert [r.status_code for r in responses] == [201] * 60
    ids = [r.json()["job_id"] for r in responses]
    assert len(set(ids)) == 60
    for index, job_id in enumerate(ids):
        detail = await stack.final(job_id)
        assert (detail["status"], detail["result"]) == ("completed", index)
    assert await job_count(stack) == 60


async def test_the_sdk_client_submits_a_batch(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    client = Client(str(stack.api.base_url), ADMIN_KEY)
    try:
        batch = await asyncio.to_thread(client.submit_batch, [echo(7), echo(8)], "cli-batch")
        again = await asyncio.to_thread(client.submit_batch, [echo(7), echo(8)], "cli-batch")
        with pytest.raises(ApiError) as refused:
            await asyncio.to_thread(client.submit_batch, [])
    finally:
        client.close()
    ids = [job.job_id for job in batch.jobs]
    assert [job.job_id for job in again.jobs] == ids
    assert refused.value.code == 400
    assert [(await stack.final(j))["result"] for j in ids] == [7, 8]
