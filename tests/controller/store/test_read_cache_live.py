"""``GET /job/{id}`` through a real controller: the cached body follows the job live.

Each read answers from the controller's read cache when nothing changed
(controller/store/read_cache.py); these tests check the API never serves a body
older than the state a client can observe, and that its bytes are the
uncached render's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from common.detail import DETAIL_ENCODER
from common.job import STATUS_RANK
from controller.store.jobs import JobStore
from controller.store.redis import connect_redis
from devstack.until import until
from tests.harness import Stack

pytestmark = pytest.mark.both_redis  # the store must act alike on both


@pytest.fixture
async def store(stack: Stack) -> AsyncIterator[JobStore]:
    redis = connect_redis(stack.redis_url)
    try:
        yield JobStore(redis, retention=3600.0)
    finally:
        await redis.aclose()


async def test_polling_a_running_broadcast_sees_it_progress_to_the_uncached_end(
    stack: Stack, store: JobStore
) -> None:
    hosts = ["web-1.dev.local", "web-2.dev.local", "web-3.dev.local"]
    for host in hosts:
        await stack.start_agent(host, {"group": "web.dev"})
    job_id = await stack.submit("test.sleep", {"seconds": 0.2}, target="group:web")
    seen: list[str] = []
    bodies: list[bytes] = []

    async def final() -> bool:
        response = await stack.api.get(f"/job/{job_id}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        bodies.append(response.content)
        seen.append(response.json()["status"])
        return seen[-1] == "completed"

    await until(final, f"job {job_id} completed")

    ranks = [STATUS_RANK[s] for s in seen]
    assert ranks == sorted(ranks)  # never back to an older state
    detail = await store.detail(job_id)
    assert detail is not None
    assert bodies[-1] == DETAIL_ENCODER.encode(detail)
    again = await stack.api.get(f"/job/{job_id}")
    assert again.content == bodies[-1]
    assert sorted(again.json()["responses"]) == hosts


async def test_cancel_and_delete_show_on_the_next_read(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    job_id = await stack.submit("test.sleep", {"seconds": 30}, target="web-1.dev.local")
    before = await stack.detail(job_id)
    assert before["status"] in ("submitted", "processing")

    assert (await stack.api.post(f"/job/{job_id}/cancel")).status_code == 202
    cancelled = await stack.detail(job_id)
    assert cancelled["status"] == "cancelled"
    assert any(item["event"] == "cancelled" for item in cancelled["timeline"])

    assert (await stack.api.delete(f"/job/{job_id}")).status_code == 204
    gone = await stack.api.get(f"/job/{job_id}")
    assert gone.status_code == 404
    assert gone.json()["code"] == 404
