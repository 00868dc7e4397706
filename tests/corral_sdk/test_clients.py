"""The SDK against a whole stack: every route typed, errors as exceptions, live streams.

The async client runs in the test's loop; the sync one in a thread, as a
script would run it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from common.api import Accepted
from common.detail import JobDetail
from corral_sdk.aio import AsyncClient
from corral_sdk.calls import job_body
from corral_sdk.client import Client
from corral_sdk.errors import BadRequest, Forbidden, NotFound, Unauthorized
from corral_sdk.sse import Final, Progress, Snapshot
from devstack.until import until
from tests.harness import ADMIN_KEY, READER_KEY, Stack

HOST = "sdk-1.test"
ROOT = Path(__file__).resolve().parents[2]


def url(stack: Stack) -> str:
    return str(stack.api.base_url)


async def test_async_client_covers_the_job_routes(stack: Stack) -> None:
    await stack.start_agent(HOST)
    async with AsyncClient(url(stack), ADMIN_KEY) as client:
        detail = await client.run("test.echo", {"data": {"x": 1}}, wait=10)
        assert isinstance(detail, JobDetail)
        assert (detail.status, detail.result, detail.hostname) == ("completed", {"x": 1}, HOST)
        accepted = await client.submit("test.ping", target=HOST)
        assert isinstance(accepted, Accepted)
        assert (await client.job(accepted.job_id)).id == accepted.job_id
        batch = await client.submit_batch([job_body("test.ping"), job_body("test.ping")])
        assert len(batch.jobs) == 2
        listed = await client.jobs(limit=50)
        assert {accepted.job_id, *(j.job_id for j in batch.jobs)} <= {i.id for i in listed.items}
        await stack.final(accepted.job_id)
        retried = await client.retry(accepted.job_id)
        assert retried.retry_of == accepted.job_id
        agents = await client.agents()
        assert [a.hostname for a in agents.items] == [HOST]
        assert (await client.agent(HOST)).state == "online"
        await client.delete(accepted.job_id)
        with pytest.raises(NotFound):
            await client.job(accepted.job_id)


async def test_errors_are_typed_exceptions_with_the_body(stack: Stack) -> None:
    async with AsyncClient(url(stack), ADMIN_KEY) as client:
        with pytest.raises(BadRequest) as bad:
            await client.submit("no.such.operation")
        assert bad.value.code == 400
        assert "unknown operation" in bad.value.details
    async with AsyncClient(url(stack), "wrong-key") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.jobs()
    async with AsyncClient(url(stack), READER_KEY) as reader:
        with pytest.raises(Forbidden):
            await reader.submit("test.ping")


async def test_watch_streams_snapshot_progress_and_final(stack: Stack) -> None:
    await stack.start_agent(HOST)
    async with AsyncClient(url(stack), ADMIN_KEY) as client:
        accepted = await client.submit("test.sleep", {"seconds": 0.5}, target=HOST)
        events = [event async for event in client.watch(accepted.job_id)]
    assert isinstance(events[0], Snapshot)
    assert isinstance(events[-1], Final)
    assert events[-1].detail.status == "completed"
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress
    assert progress[-1].entry.event == "completed"


async def test_the_sync_client_runs_and_watches(stack: Stack) -> None:
    await stack.start_agent(HOST)

    def script() -> tuple[JobDetail | Accepted, list[str]]:
        with Client(url(stack), ADMIN_KEY) as client:
            detail = client.run("test.ping", wait=10)
            job = client.submit("test.sleep", {"seconds": 0.3})
            kinds = [type(event).__name__ for event in client.watch(job.job_id)]
        return detail, kinds

    detail, kinds = await asyncio.to_thread(script)
    assert isinstance(detail, JobDetail)
    assert detail.status == "completed"
    assert kinds[0] == "Snapshot"
    assert kinds[-1] == "Final"


async def test_the_firehose_yields_typed_changes(stack: Stack) -> None:
    await stack.start_agent(HOST)
    submitted: set[str] = set()
    async with AsyncClient(url(stack), ADMIN_KEY) as client:
        changes = client.firehose(["completed"], "test.ping")
        first = asyncio.ensure_future(anext(changes))

        async def heard() -> bool:
            # Jobs finished before the stream opened are not on it: send until one is.
            submitted.add((await client.submit("test.ping")).job_id)
            await asyncio.wait({first}, timeout=0.5)
            return first.done()

        await until(heard, "a change on the firehose", within=20)
        await changes.aclose()
    change = first.result()
    assert change.job_id in submitted
    assert (change.status, change.operation) == ("completed", "test.ping")


async def test_the_example_script_runs(stack: Stack) -> None:
    await stack.start_agent(HOST)
    env = {**os.environ, "CORRAL_URL": url(stack).rstrip("/"), "CORRAL_API_KEY": ADMIN_KEY}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "run_and_watch.py"),
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert f"  {HOST}: completed" in text
    assert f"node.hostname.get on {HOST}" in text


# Every route the API describes (controller/api/openapi.py), and the client
# method that calls it: a route added without one fails here.
SDK_METHODS = {
    ("POST", "/job"): "submit",
    ("GET", "/job"): "jobs",
    ("POST", "/job/batch"): "submit_batch",
    ("GET", "/job/{job_id}"): "job",
    ("GET", "/job/{job_id}/events"): "watch",
    ("GET", "/events"): "firehose",
    ("DELETE", "/job/{job_id}"): "delete",
    ("POST", "/job/{job_id}/retry"): "retry",
    ("POST", "/job/{job_id}/cancel"): "cancel",
    ("GET", "/audit"): "audit",
    ("GET", "/operation"): "operations",
    ("GET", "/operation/{name}"): "operation",
    ("GET", "/agent"): "agents",
    ("GET", "/agent/{hostname}"): "agent",
    ("POST", "/agent/{hostname}/drain"): "drain",
    ("POST", "/agent/{hostname}/undrain"): "undrain",
    ("POST", "/object"): "upload_object",
    ("GET", "/object"): "list_objects",
    ("GET", "/object/{name}"): "get_object",
    ("DELETE", "/object/{name}"): "delete_object",
    ("GET", "/health"): "health",
    ("GET", "/health/ready"): "ready",
    ("GET", "/openapi.json"): "openapi",
}


def test_both_clients_have_a_method_for_every_route() -> None:
    from controller.api.openapi import ENDPOINTS

    assert set(SDK_METHODS) == {(e.method, e.path) for e in ENDPOINTS}
    for name in SDK_METHODS.values():
        assert callable(getattr(Client, name)), name
        assert callable(getattr(AsyncClient, name)), name


async def test_the_audit_health_and_description_calls(stack: Stack) -> None:
    await stack.start_agent("sdk-1.dev.local")
    async with AsyncClient(url(stack), ADMIN_KEY) as client:
        job = await client.submit("test.ping", target="_any")
        page = await client.audit(job_id=job.job_id)
        assert [(e.route, e.status) for e in page.items] == [("/job", 201)]
        assert (await client.health()).status == "ok"
        assert (await client.ready()).checks == {"nats": "ok", "redis": "ok"}
        assert (await client.openapi())["openapi"] == "3.1.0"
