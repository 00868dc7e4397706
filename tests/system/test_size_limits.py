"""Size limits that agree, against real nats-server and redis-server.

- a body under ``max_body_bytes`` whose signed job NATS would refuse is a
  413 at submit (single and batch), and no job is created; so is a retry
  whose new target makes the signed job too large;
- a result too large to be folded ends the job ``failed`` "result too
  large" as soon as the agent answers, not ``timeout`` at the deadline;
- a server that takes less than the event limit gets the ``failed`` one at
  once, not five retries of an event it will always refuse.
"""

from __future__ import annotations

from pathlib import Path

import nats
from nats.js import JetStreamContext

from agent.events import EventPublisher
from common import subjects
from common.limits import HEADERS_ROOM, JOB_ENVELOPE_BYTES, MAX_EVENT_BYTES, MAX_JOB_BYTES
from common.messages import ENCODER, EVENT_DECODER, Completed, Failed, Operation, event_id
from controller.streams import ensure_streams
from devstack.nats_server import start_nats
from tests.controller.api.test_app import assert_error
from tests.harness import Stack

HOST = "web-1.dev.local"
# 4 bytes each in JSON, 9 in MessagePack: a 600 KB body, a 1.35 MB job.
FLOATS = [0.5] * 150_000


def echo(data: object, timeout: float = 60.0) -> dict[str, object]:
    return {
        "operation": {"type": "test.echo", "data": {"data": data}},
        "target": HOST,
        "timeout": timeout,
    }


async def test_a_job_too_large_to_publish_is_a_413_at_submit(stack: Stack) -> None:
    await stack.start_agent(HOST)
    response = await stack.api.post("/job", json=echo(FLOATS))
    assert_error(response, 413, "Request body too large.")
    details = response.json()["details"]
    assert details.startswith("operation: the signed job would take up to ")
    assert f"over the {MAX_JOB_BYTES}-byte message limit" in details

    batch = await stack.api.post("/job/batch", json={"jobs": [echo("small"), echo(FLOATS)]})
    assert_error(batch, 413, "Request body too large.")
    assert batch.json()["details"].startswith("jobs[1].operation: the signed job")
    assert (await stack.api.get("/job")).json()["total_items"] == 0

    # Just under the limit is accepted, published and run.
    fits = await stack.submit("test.echo", {"data": [0.5] * 1000}, target=HOST)
    assert (await stack.final(fits))["status"] == "completed"


async def test_a_retry_whose_target_makes_the_job_too_large_is_a_413(stack: Stack) -> None:
    long_host = "a" * 200
    await stack.start_agent(long_host)
    empty = ENCODER.encode(Operation(type="test.echo", data={"data": ""}))
    # The largest string that fits with target _any (a str over 65535 bytes takes 4 more).
    room = MAX_JOB_BYTES - JOB_ENVELOPE_BYTES - len("_any") - len(empty) - 4
    source = await stack.submit("test.echo", {"data": "x" * room}, target="_any")

    response = await stack.api.post(f"/job/{source}/retry", json={"target": long_host})
    assert_error(response, 413, "Request body too large.")
    assert response.json()["details"].startswith("operation: the signed job would take up to ")
    assert (await stack.api.get("/job")).json()["total_items"] == 1
    # Sent where it fitted before, it still does.
    again = await stack.api.post(f"/job/{source}/retry", json={})
    assert again.status_code == 201, again.text


async def test_a_result_too_large_to_fold_ends_failed_at_once(stack: Stack) -> None:
    await stack.start_agent(HOST)
    # Accepted (about 600 KB, under the job limit), but its result is over the event limit.
    big = "x" * (MAX_EVENT_BYTES + 100_000)
    response = await stack.api.post("/job", json=echo(big, timeout=3600.0))
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    # Well before the hour-long deadline: the agent said so, the sweeper did not guess.
    detail = await stack.final(job_id, within=30)
    assert detail["status"] == "failed"
    state = detail["agent_states"][HOST]
    assert state["status"] == "failed"
    assert state["error"].startswith("result too large: ")
    assert f"over the {MAX_EVENT_BYTES}-byte limit" in state["error"]
    assert "completed without changes" in state["error"]
    assert detail["error"] == state["error"]


async def test_a_server_with_a_smaller_max_payload_gets_the_failed_event(tmp_path: Path) -> None:
    config = tmp_path / "small.conf"
    config.write_text("max_payload: 64KB\n")
    server = start_nats(tmp_path / "nats", config_file=config)
    nc = await nats.connect(server.url)
    try:
        js: JetStreamContext = nc.jetstream()
        await ensure_streams(js)
        assert nc.max_payload == 64 * 1024
        publisher = EventPublisher(nc, HOST)
        job_id = "0b7e9f59-5a43-4e52-8a2f-3c1c9f0a7d11"
        event = Completed(
            event_id=event_id(job_id, HOST, 1, "completed"),
            job_id=job_id,
            hostname=HOST,
            timestamp=1.7e9,
            result="y" * 100_000,
        )
        # One attempt: the refusal is for size, so not worth four more.
        assert await publisher.store(event, attempts=1)
        stored = await js.get_last_msg(subjects.EVENTS_STREAM, subjects.events_of(HOST))
        sent = EVENT_DECODER.decode(stored.data or b"")
        assert isinstance(sent, Failed)
        assert f"over the {64 * 1024 - HEADERS_ROOM}-byte limit" in sent.error
    finally:
        await nc.close()
        server.stop()
