"""Live progress over Server-Sent Events: one job's stream and the firehose. I/O: Redis.

``GET /job/{id}/events``: on connect the current detail as one ``snapshot``
event, then one ``timeline`` event per event the store takes for the job
(its timeline entry and, if it moved an agent, that agent's new state),
then a ``final`` event with the finished detail, and the stream ends. SSE
ids are the job's arrival positions (common/live.py), the same for every
connection: with ``Last-Event-ID: N`` the stream resumes after event N, with
no snapshot, no gap and no repeat.

``GET /events``: the firehose of job status changes across all jobs
(``change`` events ``{job_id, status, operation}``), filterable by status
and operation, for monitoring tools. It never ends; a reader that falls far
behind misses changes rather than holding memory.

Both are woken by the change feed (controller/watch/), never by polling on a
timer alone; a slow safety look every few seconds covers a lost wake-up.
Starlette's StreamingResponse carries them: SSE is a few lines of text
framing, not worth another dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.detail import render
from common.errors import InvalidRequest, NotFound
from common.fold import JobRecord, fold_all
from common.job import FINAL_STATUSES, JOB_STATUSES, JobMeta
from common.live import step
from common.messages import Event
from controller.store.jobs import JobStore
from controller.watch.watchers import Watchers

SAFETY_LOOK = 5.0  # seconds between looks at the store when no wake-up came
_JSON = msgspec.json.Encoder()
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + _JSON.encode(data) + b"\n\n"


def resume_position(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidRequest("Last-Event-ID: must be an event id this stream sent (an integer)")
    return int(raw)


async def job_stream(
    store: JobStore, watchers: Watchers, meta: JobMeta, resume: int | None
) -> AsyncIterator[bytes]:
    async with watchers.job(meta.id) as changed:
        found = await store.arrivals(meta.id, 0)
        if found is None:
            return
        status, events = found
        if resume is None:
            record, position, pending = fold_all(events), len(events), []
            yield sse("snapshot", render(meta, record, status), position)
        else:
            position = min(resume, len(events))
            record, pending = fold_all(events[:position]), events[position:]
        while True:
            for event in pending:
                position += 1
                record, chunk = _folded(meta, record, event, position)
                if chunk:
                    yield chunk
            if status in FINAL_STATUSES:
                yield sse("final", render(meta, record, status), position)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), SAFETY_LOOK)
            changed.clear()
            found = await store.arrivals(meta.id, position)
            if found is None:
                return
            status, pending = found


def _folded(
    meta: JobMeta, record: JobRecord, event: Event, position: int
) -> tuple[JobRecord, bytes]:
    taken = step(meta, record, event)
    if taken.entry is None:
        return taken.record, b""
    data = {"entry": taken.entry, "agent": taken.agent}
    return taken.record, sse("timeline", data, position)


async def firehose(
    watchers: Watchers, statuses: frozenset[str], operation: str | None
) -> AsyncIterator[bytes]:
    async with watchers.firehose(statuses, operation) as changes:
        yield b": watching every job\n\n"
        while True:
            # One write per change message: a reader costs a write, not one per change.
            yield b"".join(sse("change", change._asdict()) for change in await changes.get())


def stream_response(body: AsyncIterator[bytes]) -> Response:
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


async def job_events_response(
    store: JobStore, watchers: Watchers, job_id: str, request: Request
) -> Response:
    resume = resume_position(request)
    meta = await store.meta(job_id)
    if meta is None:
        raise NotFound(f"no job with id {job_id}")
    return stream_response(job_stream(store, watchers, meta, resume))


def firehose_filters(request: Request) -> tuple[frozenset[str], str | None]:
    statuses = frozenset(request.query_params.getlist("status"))
    unknown = statuses - set(JOB_STATUSES)
    if unknown:
        raise InvalidRequest(f"status: must be among {', '.join(JOB_STATUSES)}")
    return statuses, request.query_params.get("operation") or None
