"""Cancel, the controller's side: record, stream message deleted, signed request sent."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from common import subjects
from common.messages import CANCEL_DECODER, SIGNED_JOB_DECODER
from common.signing import Verifier, load_public
from controller.store.keys import job_key
from controller.store.redis import connect_redis
from devstack.until import until
from tests.controller.api.test_app import assert_error
from tests.harness import Stack

pytestmark = pytest.mark.both_redis  # on a single redis-server and on a cluster


async def job_field(stack: Stack, job_id: str, name: str) -> bytes | None:
    redis = connect_redis(stack.redis_url)
    try:
        value = await redis.hget(job_key(job_id), name)
        return None if value is None else bytes(value, "utf-8") if isinstance(value, str) else value
    finally:
        await redis.aclose()


async def crash_agents(stack: Stack) -> None:
    """End agents without draining: a sleep the agent was not told to stop would hold it."""
    for running in stack.agents.values():
        await running.crash()


async def test_cancelling_a_running_broadcast_cancels_every_agent(stack: Stack) -> None:
    for host in ("web-1.dev.local", "web-2.dev.local"):
        await stack.start_agent(host, {"group": "web.dev"})
    verifier = Verifier(load_public(str(stack.public_key)))
    heard: asyncio.Queue[bytes] = asyncio.Queue()
    nc = await nats.connect(stack.nats_url)

    async def on_cancel(msg: Msg) -> None:
        heard.put_nowait(msg.data)

    try:
        await nc.subscribe(subjects.CANCEL, cb=on_cancel)
        await nc.flush()
        job_id = await stack.submit("test.sleep", {"seconds": 60}, target="_all", job_timeout=120)

        async def both_started() -> bool:
            states = (await stack.detail(job_id))["agent_states"]
            return all(s["status"] == "started" for s in states.values())

        await until(both_started, "both agents started")
        response = await stack.api.post(f"/job/{job_id}/cancel")
        assert response.status_code == 202, response.text
        assert response.json() == {"job_id": job_id, "status": "cancelled"}

        # The request on the bus is signed by the controller and names the job.
        envelope = SIGNED_JOB_DECODER.decode(await asyncio.wait_for(heard.get(), 10))
        request = CANCEL_DECODER.decode(verifier.verify(envelope))
        assert request.job_id == job_id
    finally:
        await nc.close()

    detail = await stack.detail(job_id)
    assert detail["status"] == "cancelled"
    assert detail["error"] == "cancelled by request"
    assert {h: s["status"] for h, s in detail["agent_states"].items()} == {
        "web-1.dev.local": "cancelled",
        "web-2.dev.local": "cancelled",
    }
    assert any(
        e["event"] == "cancelled" and e["hostname"] == "controller" for e in detail["timeline"]
    )
    listing = (await stack.api.get("/job", params={"status": "cancelled"})).json()
    assert [item["id"] for item in listing["items"]] == [job_id]
    assert listing["items"][0]["finished_agents"] == 2
    # Cancelling again, or a finished job, is 409.
    again = await stack.api.post(f"/job/{job_id}/cancel")
    assert_error(again, 409, "job already finished")
    assert "cancelled" in again.json()["details"]
    await crash_agents(stack)


async def test_cancelling_a_queued_any_job_deletes_its_stream_message(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", max_concurrency=1)
    busy = await stack.submit("test.sleep", {"seconds": 60}, job_timeout=120)
    queued = await stack.submit("test.ping", job_timeout=120)

    async def dispatched() -> bool:
        return await job_field(stack, queued, "seq") is not None

    await until(dispatched, "queued job dispatched")
    seq = int(await job_field(stack, queued, "seq") or 0)
    assert (await stack.detail(queued))["agent_states"] == {}
    response = await stack.api.post(f"/job/{queued}/cancel")
    assert response.status_code == 202
    detail = await stack.detail(queued)
    assert detail["status"] == "cancelled"
    assert detail["error"] == "cancelled by request"
    assert detail["agent_states"] == {}
    nc = await nats.connect(stack.nats_url)
    try:
        with pytest.raises(NotFoundError):
            await nc.jetstream().get_msg(subjects.JOBS_STREAM, seq)
    finally:
        await nc.close()
    await stack.api.post(f"/job/{busy}/cancel")
    await crash_agents(stack)


async def test_cancel_answers_409_for_finished_404_unknown_400_malformed(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local")
    done = await stack.submit("test.ping", target="web-1.dev.local")
    assert (await stack.final(done))["status"] == "completed"
    finished = await stack.api.post(f"/job/{done}/cancel")
    assert_error(finished, 409, "job already finished")
    assert "completed" in finished.json()["details"]
    assert (await stack.detail(done))["status"] == "completed"
    assert_error(await stack.api.post(f"/job/{uuid.uuid4()}/cancel"), 404)
    assert_error(await stack.api.post("/job/not-a-uuid/cancel"), 400)
