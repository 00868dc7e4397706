"""Rolling rollouts through the whole stack: batches, the failure limit, cancel, a
controller killed between batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from common.signing import write_keypair
from controller.store.keys import rollout_key
from devstack.process import ServerProcess, free_port
from devstack.until import until
from tests.catalogs import restored_tables
from tests.harness import Stack, controller_config, serving

HOSTS = [f"r{i:02d}.test" for i in range(20)]


async def submit(stack: Stack, body: dict[str, Any]) -> str:
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["job_id"])


def progress(detail: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = detail["operation"]["rollout"]["progress"]
    return shown


def batch_starts(detail: dict[str, Any]) -> list[str]:
    return [e["message"] for e in detail["timeline"] if e["event"] == "batch_started"]


async def until_progress(stack: Stack, job_id: str, **wanted: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def there() -> bool:
        found.update(await stack.detail(job_id))
        return all(progress(found)[k] == v for k, v in wanted.items())

    await until(there, f"rollout {job_id} at {wanted}", 30)
    return found


async def test_a_rollout_stops_after_the_batch_holding_the_second_failure_and_cancels(
    stack: Stack,
) -> None:
    await asyncio.gather(*(stack.start_agent(host) for host in HOSTS))

    failing = await stack.final(
        await submit(
            stack,
            {
                "operation": {"type": "test.fail", "data": {"hosts": [HOSTS[6], HOSTS[8]]}},
                "target": "_all",
                "rollout": {"batch_size": 5, "max_failures": 1},
            },
        )
    )
    assert failing["status"] == "partial_failure"
    states = failing["agent_states"]
    assert {h for h, s in states.items() if s["status"] == "completed"} == {
        *HOSTS[:6],
        HOSTS[7],
        HOSTS[9],
    }
    assert {h for h, s in states.items() if s["status"] == "failed"} == {HOSTS[6], HOSTS[8]}
    never_sent = {h: (s["status"], s["error"]) for h, s in states.items() if h in HOSTS[10:]}
    assert set(never_sent.values()) == {("skipped", "rollout stopped after 2 failures")}
    assert len(never_sent) == 10
    assert failing["operation"]["rollout"] == {
        "batch_size": 5,
        "pause": 0.0,
        "max_failures": 1,
        "max_concurrency": None,
        "progress": {"batch": 2, "of": 4, "state": "stopped"},
    }
    assert batch_starts(failing) == [
        f"batch 1 of 4 started: {', '.join(HOSTS[:5])}",
        f"batch 2 of 4 started: {', '.join(HOSTS[5:10])}",
    ]

    # Cancelled within its first batch: nobody else is ever sent it.
    within = await submit(
        stack,
        {
            "operation": {"type": "test.sleep", "data": {"seconds": 30}},
            "target": "_all",
            "rollout": {"batch_size": "25%", "pause": 0.1},
        },
    )
    await until_progress(stack, within, batch=1, state="running")
    assert (await stack.api.post(f"/job/{within}/cancel")).status_code == 202
    cancelled = await stack.final(within)
    assert cancelled["status"] == "cancelled"
    assert progress(cancelled) == {"batch": 1, "of": 4, "state": "cancelled"}
    assert {s["status"] for s in cancelled["agent_states"].values()} == {"cancelled"}

    # Cancelled in the pause between batches.
    between = await submit(
        stack,
        {
            "operation": {"type": "test.ping"},
            "target": "_all",
            "timeout": 300,
            "rollout": {"batch_size": "50%", "pause": 60},
        },
    )
    await until_progress(stack, between, batch=1, state="paused")
    assert (await stack.api.post(f"/job/{between}/cancel")).status_code == 202
    paused = await stack.final(between)
    assert progress(paused) == {"batch": 1, "of": 2, "state": "cancelled"}
    assert {paused["agent_states"][h]["status"] for h in HOSTS[:10]} == {"completed"}
    assert {paused["agent_states"][h]["status"] for h in HOSTS[10:]} == {"cancelled"}
    assert len(batch_starts(paused)) == 1


@contextlib.asynccontextmanager
async def controller(
    nats_url: str, redis_url: str, private: Path, name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Callable[[], Awaitable[None]]]]:
    config = controller_config(nats_url, redis_url, private, free_port(), name=name)
    async with serving(config) as running:
        yield running


async def test_a_rollout_resumes_on_another_controller_after_its_own_stopped_between_batches(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> None:
    """The first controller goes away in the pause after batch 1 and a second one,
    which never saw the submit, carries the rollout on from Redis. (About 3 s:
    it waits through two pauses.)

    In process the first one is stopped, not SIGKILLed (cancelling an in-process
    uvicorn leaks its listening socket): between batches nothing is in flight,
    and a rollout keeps nothing in memory that a stop hands over, so to the
    rollout the two are the same; a death mid-step is the claim's resend
    (tests/controller/jobs/test_rollout.py)."""
    private, public = write_keypair(tmp_path / "keys")
    hosts = HOSTS[:6]
    with restored_tables():
        async with controller(nats_server.url, redis_db_url, private, "first") as (api, halt):
            stack = Stack(nats_server.url, redis_db_url, api, public, workdir=tmp_path)
            try:
                await asyncio.gather(*(stack.start_agent(host) for host in hosts))
                job_id = await submit(
                    stack,
                    {
                        "operation": {"type": "test.ping"},
                        "target": "_all",
                        "rollout": {"batch_size": 2, "pause": 1.0},
                    },
                )
                await until_progress(stack, job_id, batch=1, state="paused")
                await halt()  # the first controller is gone before the second starts
                async with controller(nats_server.url, redis_db_url, private, "second") as (
                    other,
                    _,
                ):
                    stack.api = other
                    done = await stack.final(job_id)
            finally:
                for running in stack.agents.values():
                    await running.shutdown()
    assert done["status"] == "completed"
    assert progress(done) == {"batch": 3, "of": 3, "state": "done"}
    # Each batch claimed once, by the controller that sent it.
    claims = Redis.from_url(redis_db_url)
    try:
        claimers = await claims.hmget(rollout_key(job_id), "batch:1", "batch:3")
    finally:
        await claims.aclose()
    assert claimers == [b"first", b"second"]
    assert len(batch_starts(done)) == 3
    assert {(s["status"], s["attempt"]) for s in done["agent_states"].values()} == {
        ("completed", 1)
    }
