"""``POST /job?wait=<seconds>``: the detail once final, woken by the change feed.

Against a whole stack (real nats-server, redis-server, controller, agent).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from common.detail import JobDetail
from corral_sdk.client import Client
from tests.harness import ADMIN_KEY, Stack

HOST = "wait-1.test"


async def submit(stack: Stack, wait: str, operation: dict[str, object]) -> httpx.Response:
    return await stack.api.post(f"/job?wait={wait}", json={"operation": operation})


async def test_the_answer_is_the_final_detail(stack: Stack) -> None:
    await stack.start_agent(HOST)
    response = await submit(stack, "10", {"type": "test.ping"})
    assert response.status_code == 201
    detail = response.json()
    assert detail["status"] == "completed"
    assert detail["hostname"] == HOST
    assert detail["result"] == {"pong": True}
    assert [e["event"] for e in detail["timeline"]][-1] == "completed"
    # Read back by the collector, byte for byte what a read gives.
    assert response.content == (await stack.api.get(f"/job/{detail['id']}")).content


async def test_a_replayed_key_answers_the_same_job_final_once_more(stack: Stack) -> None:
    await stack.start_agent(HOST)
    headers = {"Idempotency-Key": "wait-once"}
    body = {"operation": {"type": "test.ping"}}
    first = await stack.api.post("/job?wait=10", json=body, headers=headers)
    again = await stack.api.post("/job?wait=10", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # the same final detail, read again


async def test_a_failed_job_is_answered_failed(stack: Stack) -> None:
    await stack.start_agent(HOST)
    response = await submit(stack, "10", {"type": "test.fail", "data": {"message": "boom"}})
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["error"]) == ("failed", "boom")


async def test_the_wait_runs_out_and_the_job_still_finishes(stack: Stack) -> None:
    await stack.start_agent(HOST)
    response = await submit(stack, "0.2", {"type": "test.sleep", "data": {"seconds": 1}})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"job_id", "status"}
    assert body["status"] in {"submitted", "processing"}
    assert (await stack.final(body["job_id"]))["status"] == "completed"


async def test_a_client_that_leaves_while_waiting_does_not_stop_the_job(stack: Stack) -> None:
    await stack.start_agent(HOST)
    with pytest.raises(httpx.ReadTimeout):
        await stack.api.post(
            "/job?wait=5",
            json={"operation": {"type": "test.sleep", "data": {"seconds": 1}}},
            timeout=httpx.Timeout(5.0, read=0.2),
        )
    listed = (await stack.api.get("/job", params={"limit": 1})).json()["items"]
    assert (await stack.final(listed[0]["id"]))["status"] == "completed"
    # The controller still answers waits afterwards.
    assert (await submit(stack, "10", {"type": "test.ping"})).status_code == 201


@pytest.mark.parametrize("wait", ["-1", "abc", "nan", "1e9", ""])
async def test_a_bad_wait_is_a_400_naming_it(stack: Stack, wait: str) -> None:
    response = await submit(stack, wait, {"type": "test.ping"})
    assert response.status_code == 400
    assert response.json()["details"].startswith("wait:")


async def test_concurrent_waits_each_get_their_own_job(stack: Stack) -> None:
    await stack.start_agent(HOST, max_concurrency=8)
    answers = await asyncio.gather(
        *(submit(stack, "10", {"type": "test.echo", "data": {"data": i}}) for i in range(8))
    )
    assert [a.json()["result"] for a in answers] == list(range(8))


async def test_the_sdk_client_runs_a_job_in_one_request(stack: Stack) -> None:
    await stack.start_agent(HOST)
    client = Client(str(stack.api.base_url), ADMIN_KEY)
    try:
        done = await asyncio.to_thread(client.run, "test.ping", wait=10)
        pending = await asyncio.to_thread(client.run, "test.sleep", {"seconds": 1}, wait=0.1)
    finally:
        client.close()
    assert isinstance(done, JobDetail)
    assert (done.status, done.result) == ("completed", {"pong": True})
    assert pending.status in {"submitted", "processing"}  # 202: the job as accepted
