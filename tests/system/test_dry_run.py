"""Dry run through the whole system: submit with ``dry_run`` → signed → agent → detail.

Host-side witnesses: the files a real run would create or append to.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nats

from common import subjects
from common.messages import Facts, Heartbeat, encode
from devstack.until import until
from tests.controller.api.test_app import assert_error
from tests.harness import Stack

HOST = "web-1.dev.local"


async def test_a_dry_run_command_runs_nothing_and_says_what_it_would(
    stack: Stack, tmp_path: Path
) -> None:
    await stack.start_agent(HOST, allow=("command.exec",))
    witness = tmp_path / "made"
    data = {"argv": ["touch", str(witness)]}
    body = {"operation": {"type": "command.exec", "data": data}, "target": HOST, "dry_run": True}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    detail = await stack.final(response.json()["job_id"])
    assert detail["status"] == "completed"
    assert detail["changed"] is False
    assert detail["result"]["would_run"]["argv"] == ["touch", str(witness)]
    assert detail["operation"] == {
        "type": "command.exec",
        "data": {"argv": ["touch", str(witness)]},
        "dry_run": True,
    }
    assert not witness.exists()
    # The same job for real: the witness appears, and the detail has no dry_run.
    real = await stack.final(await stack.submit("command.exec", data, HOST))
    assert real["status"] == "completed"
    assert witness.exists()
    assert "dry_run" not in real["operation"]
    assert set(real) == set(detail)


async def test_a_dry_run_counter_writes_nothing_and_counts_what_it_would(
    stack: Stack, tmp_path: Path
) -> None:
    await stack.start_agent(HOST, allow=("test.counter",))
    counter = tmp_path / "counter"
    counter.write_text("earlier-job\n")
    body = {
        "operation": {"type": "test.counter", "data": {"path": str(counter)}},
        "target": HOST,
        "dry_run": True,
    }
    response = await stack.api.post("/job", json=body)
    job_id = response.json()["job_id"]
    detail = await stack.final(job_id)
    assert detail["status"] == "completed"
    assert detail["result"] == {"count": 2, "would_append": job_id}
    assert counter.read_text() == "earlier-job\n"


async def test_a_dry_run_is_refused_for_an_agent_that_predates_it(stack: Stack) -> None:
    """An older agent would ignore the flag and run the job for real: 400, nothing sent."""
    await stack.start_agent(HOST, allow=("command.exec",))
    old = "old-1.dev.local"
    nc = await nats.connect(stack.nats_url)
    try:
        beat = Heartbeat(hostname=old, facts=Facts(), sent_at=time.time(), interval=5.0)
        await nc.publish(subjects.heartbeat_of(old), encode(beat))
        await nc.flush()
        await until(lambda: stack.registered(old), f"{old} registered")
    finally:
        await nc.close()
    data = {"argv": ["true"]}
    for target in (old, "_all", "_any"):
        body = {"operation": {"type": "command.exec", "data": data}, "target": target}
        refused = await stack.api.post("/job", json={**body, "dry_run": True})
        assert_error(refused, 400)
        assert refused.json()["details"].startswith(f"dry_run: {old} predate dry run")
    listing = (await stack.api.get("/job")).json()
    assert listing["total_items"] == 0
    fine = {"operation": {"type": "command.exec", "data": data}, "target": HOST, "dry_run": True}
    assert (await stack.api.post("/job", json=fine)).status_code == 201


async def test_dry_run_is_part_of_what_an_idempotency_key_means(stack: Stack) -> None:
    await stack.start_agent(HOST, allow=("command.exec",))
    body = {"operation": {"type": "command.exec", "data": {"argv": ["true"]}}, "target": HOST}
    headers = {"Idempotency-Key": f"dry-{os.getpid()}"}
    first = await stack.api.post("/job", json={**body, "dry_run": True}, headers=headers)
    assert first.status_code == 201
    assert_error(await stack.api.post("/job", json=body, headers=headers), 422)
    again = await stack.api.post("/job", json={**body, "dry_run": True}, headers=headers)
    assert again.json()["job_id"] == first.json()["job_id"]


async def test_a_retry_of_a_dry_run_is_a_dry_run(stack: Stack, tmp_path: Path) -> None:
    await stack.start_agent(HOST, allow=("command.exec",))
    witness = tmp_path / "made"
    body = {
        "operation": {"type": "command.exec", "data": {"argv": ["touch", str(witness)]}},
        "target": HOST,
        "dry_run": True,
    }
    original = (await stack.api.post("/job", json=body)).json()["job_id"]
    await stack.final(original)
    retried = (await stack.api.post(f"/job/{original}/retry")).json()["job_id"]
    detail = await stack.final(retried)
    assert detail["operation"]["dry_run"] is True
    assert detail["changed"] is False
    assert not witness.exists()
