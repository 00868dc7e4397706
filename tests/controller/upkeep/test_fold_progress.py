"""Deadlines wait for agent answers still queued in CORRAL_EVENTS.

Against a real nats-server (the streams as the controller creates them) and
redis-server, with no collector running: the test publishes an agent's
events as the agent does and folds them itself when the step calls for it,
so each step is exact. The sweeper runs on a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from redis.asyncio import Redis

from common import subjects
from common.job import JobMeta
from common.messages import (
    ENCODER,
    EVENT_DECODER,
    Acknowledged,
    Completed,
    Event,
    event_id,
)
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.keys import INDEX_OPEN
from controller.streams import ensure_streams
from controller.upkeep.fold_progress import FoldProgress
from controller.upkeep.reconcile import Reconciler
from controller.upkeep.sweeper import Sweeper
from devstack.process import ServerProcess
from tests.records import single_host_job

HOST = "a.example"
WAIT = 120.0  # the sweeper's backlog_wait


@dataclass
class World:
    nc: NATS
    js: JetStreamContext
    store: JobStore
    sweeper: Sweeper
    clock: list[float]


@pytest.fixture
async def world(nats_server: ServerProcess, redis_db_url: str) -> AsyncIterator[World]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    redis = Redis.from_url(redis_db_url)
    store = JobStore(redis, retention=3600.0)
    clock = [time.time()]
    sweeper = Sweeper(
        store,
        0.2,
        clock=lambda: clock[0],
        progress=FoldProgress(js),
        backlog_wait=WAIT,
    )
    try:
        yield World(nc, js, store, sweeper, clock)
    finally:
        await redis.aclose()
        await nc.close()


async def past_due_job(world: World) -> JobMeta:
    """A job for HOST whose deadline passed 5 s ago by the sweeper's clock."""
    meta, submitted = single_host_job(HOST, created=world.clock[0] - 10.0, timeout=5.0)
    await world.store.create(meta, submitted)
    return meta


async def agent_sends(world: World, meta: JobMeta, kind: type[Event]) -> None:
    """As an agent does: on its own subject, timestamped before the deadline."""
    tag = str(kind.__struct_config__.tag)
    event = kind(
        event_id=event_id(meta.id, HOST, 1, tag),
        job_id=meta.id,
        hostname=HOST,
        timestamp=meta.deadline - 1.0,
    )
    await world.js.publish(
        subjects.events_of(HOST), ENCODER.encode(event), headers={"Nats-Msg-Id": event.event_id}
    )


async def fold_backlog(world: World) -> None:
    """What the collector does: store every queued event, then ack it."""
    sub = await world.js.pull_subscribe_bind(
        subjects.COLLECTOR_CONSUMER, stream=subjects.EVENTS_STREAM
    )
    msgs = await sub.fetch(100, timeout=2.0)
    grouped: dict[str, list[tuple[Event, bytes]]] = {}
    for msg in msgs:
        event = EVENT_DECODER.decode(msg.data)
        grouped.setdefault(event.job_id, []).append((event, msg.data))
    await world.store.apply(grouped)
    for msg in msgs:
        await msg.ack_sync()
    await sub.unsubscribe()


async def status_of(world: World, job_id: str) -> str:
    loaded = await world.store.load(job_id)
    assert loaded is not None
    return loaded[1]


async def is_open(world: World, job_id: str) -> bool:
    return await world.store.redis.zscore(INDEX_OPEN, job_id) is not None


async def test_an_on_time_answer_still_queued_is_waited_for(world: World) -> None:
    meta = await past_due_job(world)
    await agent_sends(world, meta, Completed)
    assert await world.sweeper.sweep_once() == 0
    assert await is_open(world, meta.id)
    assert await status_of(world, meta.id) == "submitted"

    await fold_backlog(world)
    assert await status_of(world, meta.id) == "completed"
    assert await world.sweeper.sweep_once() == 0
    detail = await world.store.detail(meta.id)
    assert detail is not None
    assert detail.agent_states[HOST].status == "completed"
    assert not detail.agent_states[HOST].late


async def test_the_deadline_applies_once_the_backlog_is_folded(world: World) -> None:
    """Progress but no answer in the backlog: the agent times out after the fold."""
    meta = await past_due_job(world)
    await agent_sends(world, meta, Acknowledged)
    assert await world.sweeper.sweep_once() == 0
    await fold_backlog(world)
    assert await is_open(world, meta.id)
    assert await world.sweeper.sweep_once() == 1
    assert await status_of(world, meta.id) == "failed"
    detail = await world.store.detail(meta.id)
    assert detail is not None
    assert detail.agent_states[HOST].status == "timeout"
    assert not await is_open(world, meta.id)


async def test_a_backlog_that_never_moves_delays_deadlines_by_backlog_wait(world: World) -> None:
    meta = await past_due_job(world)
    await agent_sends(world, meta, Completed)
    assert await world.sweeper.sweep_once() == 0
    world.clock[0] += WAIT - 1.0
    assert await world.sweeper.sweep_once() == 0
    world.clock[0] += 1.0
    assert await world.sweeper.sweep_once() == 1
    # The collector was stuck: the agent timed out, its answer will come late.
    assert await status_of(world, meta.id) == "failed"


async def test_without_a_backlog_deadlines_apply_at_once(world: World) -> None:
    meta = await past_due_job(world)
    assert await world.sweeper.sweep_once() == 1
    assert await status_of(world, meta.id) == "failed"


async def test_an_unreachable_stream_counts_as_a_stuck_backlog(world: World) -> None:
    progress = FoldProgress(world.js)
    now = world.clock[0]
    assert await progress.observe(now) == now  # empty stream: all folded
    await world.nc.close()
    assert await progress.observe(now + 5.0) == now
    assert progress.stuck_for(now + 65.0) == 60.0
    progress.forget_stall()
    assert progress.stuck_for(now + 65.0) == 0.0


async def test_an_unmarked_job_whose_on_time_answer_is_queued_is_not_failed_undispatched(
    world: World,
) -> None:
    """Published, but the controller died before marking it dispatched, and came
    back after the deadline: its reconciler must not fail it "not dispatched"
    while the agent's on-time answer waits in the backlog."""
    meta = await past_due_job(world)  # written, never marked dispatched
    await agent_sends(world, meta, Completed)
    # Only the past-deadline path runs: it needs the control store alone.
    control = ControlStore(world.store.redis)
    dispatcher = cast(Dispatcher, SimpleNamespace(control=control))
    canceller = cast(Canceller, SimpleNamespace())
    world.sweeper.reconciler = Reconciler(
        control, dispatcher, canceller, clock=lambda: world.clock[0]
    )
    assert await control.is_undispatched(meta.id)
    assert await world.sweeper.sweep_once() == 0
    assert await status_of(world, meta.id) == "submitted"

    await fold_backlog(world)
    assert await status_of(world, meta.id) == "completed"
    await world.sweeper.sweep_once()
    detail = await world.store.detail(meta.id)
    assert detail is not None
    assert detail.error is None
    assert detail.agent_states[HOST].status == "completed"
    assert not await control.is_undispatched(meta.id)
