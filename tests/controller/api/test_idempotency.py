"""Idempotent submit and retry: one job per key and body, across concurrent requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.controller.api.test_app import assert_error
from tests.harness import Stack

PING = {"operation": {"type": "test.ping", "data": {}}, "target": "web-1.dev.local"}


async def all_job_ids(stack: Stack) -> set[str]:
    listing = (await stack.api.get("/job", params={"limit": 100})).json()
    return {item["id"] for item in listing["items"]}


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_same_key_and_body_returns_the_same_job(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local")
    headers = {"Idempotency-Key": "order-42"}
    first = await stack.api.post("/job", json=PING, headers=headers)
    assert first.status_code == 201, first.text
    job_id = first.json()["job_id"]
    await stack.final(job_id)
    # Same meaning, other key order and an explicit default timeout: same body.
    reordered = {"target": "web-1.dev.local", "operation": {"data": {}, "type": "test.ping"}}
    again = await stack.api.post("/job", json={**reordered, "timeout": 30}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == {"job_id": job_id, "status": "completed"}
    assert again.headers["idempotent-replayed"] == "true"
    other = {**PING, "operation": {"type": "test.echo", "data": {"data": 1}}}
    reused = await stack.api.post("/job", json=other, headers=headers)
    assert_error(reused, 422)
    assert "different body" in reused.json()["details"]
    assert await all_job_ids(stack) == {job_id}
    # Without a key, or with another key, each request is a new job.
    fresh = await stack.api.post("/job", json=PING, headers={"Idempotency-Key": "order-43"})
    assert fresh.status_code == 201
    assert fresh.json()["job_id"] != job_id


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_concurrent_submits_with_one_key_create_one_job(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local")
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(stack.api.post("/job", json=PING, headers=headers) for _ in range(20))
    )
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert len(await all_job_ids(stack)) == 1


async def test_fifty_concurrent_retries_of_one_job_create_exactly_one(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local")
    source = await stack.submit("test.fail", target="web-1.dev.local")
    await stack.final(source)

    async def retry(body: dict[str, Any] | None = None) -> Any:
        return await stack.api.post(f"/job/{source}/retry", json=body or {})

    responses = await asyncio.gather(*(retry() for _ in range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [201], codes
    new_ids = {r.json()["job_id"] for r in responses}
    assert len(new_ids) == 1
    assert all(r.json()["retry_of"] == source for r in responses)
    assert await all_job_ids(stack) == {source, *new_ids}
    # Another body is another retry; a distinct Idempotency-Key is a deliberate new one.
    longer = await retry({"timeout": 60})
    assert longer.status_code == 201
    deliberate = await stack.api.post(
        f"/job/{source}/retry", json={}, headers={"Idempotency-Key": "again-1"}
    )
    assert deliberate.status_code == 201
    assert len({longer.json()["job_id"], deliberate.json()["job_id"], *new_ids}) == 3
    reused = await stack.api.post(
        f"/job/{source}/retry", json={"timeout": 5}, headers={"Idempotency-Key": "again-1"}
    )
    assert_error(reused, 422)


async def test_a_malformed_idempotency_key_is_400(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local")
    bad = await stack.api.post("/job", json=PING, headers={"Idempotency-Key": "x" * 300})
    assert_error(bad, 400)
    assert await all_job_ids(stack) == set()
