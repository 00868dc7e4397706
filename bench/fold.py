"""Fold rate: events pre-published while the controller is paused, then drained. I/O: all.

Ten stand-in agents (heartbeats only, label ``bench=fold``) make the
controller expect ten answers per job. Jobs are submitted to ``bench:fold``
(nobody consumes that subject), the controller process is paused with
SIGSTOP, and for every job and stand-in the three events a real agent sends
(acknowledged, started, completed) are published to JetStream exactly as an
agent would. Then SIGCONT: the figure is events / time until every job is
``completed`` with its ten responses, which includes each job's finalize.
"""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.client import Client as NATS

from bench import jobs, loadgen
from bench.report import Row, rate_row
from bench.scenarios import submit_one
from bench.stack import BenchFailure, Stack
from common import subjects
from common.messages import ENCODER, Acknowledged, Completed, Event, Heartbeat, Started, event_id

STAND_INS = 10
LABEL = {"bench": "fold"}


def stand_ins() -> list[str]:
    return [f"fold-{index:02d}.bench" for index in range(STAND_INS)]


async def beat(nc: NATS, state: str) -> None:
    for hostname in stand_ins():
        message = Heartbeat(
            hostname=hostname, labels=LABEL, sent_at=time.time(), interval=5.0, state=state
        )
        await nc.publish(subjects.heartbeat_of(hostname), ENCODER.encode(message))
    await nc.flush()


def events_for(job_id: str, hostname: str) -> list[Event]:
    now = time.time()

    def ids(kind: str) -> str:
        return event_id(job_id, hostname, 1, kind)

    return [
        Acknowledged(event_id=ids("acknowledged"), job_id=job_id, hostname=hostname, timestamp=now),
        Started(event_id=ids("started"), job_id=job_id, hostname=hostname, timestamp=now),
        Completed(
            event_id=ids("completed"),
            job_id=job_id,
            hostname=hostname,
            timestamp=now,
            result={"pong": True},
        ),
    ]


async def publish_events(nc: NATS, job_ids: list[str]) -> int:
    js = nc.jetstream()
    count = 0
    for job_id in job_ids:
        futures = []
        for hostname in stand_ins():
            for event in events_for(job_id, hostname):
                futures.append(
                    await js.publish_async(
                        subjects.events_of(hostname),
                        ENCODER.encode(event),
                        headers={"Nats-Msg-Id": event.event_id},
                    )
                )
        await asyncio.gather(*futures)
        count += len(futures)
    return count


async def submit_jobs(stack: Stack, count: int) -> list[str]:
    pool = await loadgen.open_pool(stack.url, stack.api_key, 8)
    body = {"operation": jobs.PING, "target": "bench:fold", "timeout": 600}
    job_ids: list[str] = []

    async def client(connection: loadgen.Connection, share: int) -> None:
        for _ in range(share):
            job_ids.append(await submit_one(connection, body))

    try:
        shares = [count // 8 + (1 if i < count % 8 else 0) for i in range(8)]
        await asyncio.gather(*(client(c, n) for c, n in zip(pool, shares, strict=True)))
    finally:
        await loadgen.close_pool(pool)
    return job_ids


async def fold_rate(stack: Stack, job_count: int, js_ceiling: float, redis_ceiling: float) -> Row:
    nc = await nats.connect(stack.nats_url, name="bench-fold")
    try:
        await beat(nc, "online")
        await stack.wait_online(STAND_INS, 30)
        job_ids = await submit_jobs(stack, job_count)
        stack.pause_controller()
        try:
            published = await publish_events(nc, job_ids)
        finally:
            stack.resume_controller()
        started = time.monotonic()
        finished = await jobs.wait_all_final(stack, job_ids, 120 + published / 1000)
        await jobs.check_all_completed(stack, job_ids, STAND_INS)
    finally:
        await beat(nc, "offline")
        await nc.close()
    await stack.wait_online(0, 30)
    rate = published / (finished - started)
    if rate <= 0:
        raise BenchFailure("fold rate not measured")
    return rate_row(
        "fold rate",
        rate,
        "events/s",
        floor=max(20_000.0, 0.8 * js_ceiling),
        ceiling=js_ceiling,
        ceiling_name="JetStream fetch+ack",
        notes=(
            f"{published} events ({len(job_ids)} jobs x {STAND_INS} agents x 3), "
            f"finalize included; Redis HSET ceiling {redis_ceiling:,.0f} ops/s"
        ),
    )
