"""Live progress over SSE against a whole stack: snapshot, timeline, final, resume, firehose."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness import Stack

HOSTS = ("live-1.test", "live-2.test")


@dataclass
class Sse:
    event: str
    id: int | None
    data: Any


async def sse_events(response: httpx.Response) -> AsyncIterator[Sse]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "event" in fields:
                raw_id = fields.get("id")
                yield Sse(
                    fields["event"], int(raw_id) if raw_id else None, json.loads(fields["data"])
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def read_stream(
    stack: Stack, job_id: str, last_id: int | None = None, stop_after: int | None = None
) -> list[Sse]:
    headers = {} if last_id is None else {"Last-Event-ID": str(last_id)}
    got: list[Sse] = []
    async with stack.api.stream("GET", f"/job/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in sse_events(response):
            got.append(event)
            if stop_after is not None and len(got) == stop_after:
                break
    return got


def entries(events: list[Sse]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for event in events:
        if event.event == "snapshot":
            found.extend(event.data["timeline"])
        elif event.event == "timeline":
            found.append(event.data["entry"])
    return found


def key(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True)


async def broadcast(stack: Stack, seconds: float) -> str:
    for host in HOSTS:
        await stack.start_agent(host)
    return await stack.submit("test.sleep", {"seconds": seconds}, target="_all")


async def test_snapshot_then_every_entry_then_final(stack: Stack) -> None:
    job_id = await broadcast(stack, 1.0)
    events = await read_stream(stack, job_id)
    assert events[0].event == "snapshot"
    assert events[-1].event == "final"
    assert events[-1].data["status"] == "completed"
    ids = [e.id or 0 for e in events if e.event == "timeline"]
    assert ids == sorted(set(ids)), "increasing, no repeats"
    assert all(i > (events[0].id or 0) for i in ids)
    # No gap, no repeat: what was streamed is exactly the final timeline.
    final = events[-1].data["timeline"]
    assert sorted(map(key, entries(events))) == sorted(map(key, final))
    moved = {
        e.data["agent"]["hostname"] for e in events if e.event == "timeline" and e.data["agent"]
    }
    assert moved <= set(HOSTS)


async def test_last_event_id_resumes_without_gap_or_repeat(stack: Stack) -> None:
    job_id = await broadcast(stack, 1.0)
    first = await read_stream(stack, job_id, stop_after=2)
    last_id = first[-1].id
    assert last_id is not None
    rest = await read_stream(stack, job_id, last_id=last_id)
    assert all(e.event != "snapshot" for e in rest)
    assert rest[-1].event == "final"
    timeline_ids = [e.id for e in rest if e.event == "timeline"]
    assert all(i is not None and i > last_id for i in timeline_ids)
    final = rest[-1].data["timeline"]
    assert sorted(map(key, entries(first) + entries(rest))) == sorted(map(key, final))


async def test_a_finished_job_streams_its_snapshot_and_final(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    job_id = await stack.submit("test.ping")
    await stack.final(job_id)
    events = await read_stream(stack, job_id)
    assert [e.event for e in events] == ["snapshot", "final"]
    assert events[0].id == events[1].id


async def test_unknown_job_and_bad_resume_id_are_json_errors(stack: Stack) -> None:
    missing = await stack.api.get("/job/00000000-0000-0000-0000-000000000000/events")
    assert (missing.status_code, missing.json()["code"]) == (404, 404)
    await stack.start_agent(HOSTS[0])
    job_id = await stack.submit("test.ping")
    bad = await stack.api.get(f"/job/{job_id}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400
    assert bad.json()["details"].startswith("Last-Event-ID")


async def test_the_firehose_tells_status_changes_filtered(stack: Stack) -> None:
    await stack.start_agent(HOSTS[0])
    seen: list[Sse] = []
    listening = asyncio.Event()

    async def listen() -> None:
        params = {"status": "completed", "operation": "test.ping"}
        async with stack.api.stream("GET", "/events", params=params) as response:
            assert response.status_code == 200
            listening.set()
            async for event in sse_events(response):
                seen.append(event)
                return

    reader = asyncio.create_task(listen())
    # The firehose's first line (a comment) arrives once the stream is open.
    await asyncio.wait_for(listening.wait(), 10)
    await stack.final(await stack.submit("test.echo", {"data": 1}))  # filtered out
    job_id = await stack.submit("test.ping")
    await asyncio.wait_for(reader, 10)
    assert [(e.event, e.data) for e in seen] == [
        ("change", {"job_id": job_id, "status": "completed", "operation": "test.ping"})
    ]


@pytest.mark.parametrize("query", ["status=nope", "status=completed&status=weird"])
async def test_a_bad_firehose_filter_is_a_400(stack: Stack, query: str) -> None:
    response = await stack.api.get(f"/events?{query}")
    assert response.status_code == 400
