"""Watchers against a real nats-server: woken by the change feed, never left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS

from controller.watch.changes import ChangeFeed
from controller.watch.watchers import Watchers


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


def stored(statuses: dict[str, str]) -> Watchers:
    async def status_of(job_id: str) -> str | None:
        return statuses.get(job_id)

    return Watchers(status_of)


async def test_a_change_naming_the_job_final_wakes_its_waiter(nc: NATS) -> None:
    watchers = stored({"j1": "processing"})
    await watchers.subscribe(nc)
    waiting = asyncio.create_task(watchers.final("j1", 10))
    await asyncio.sleep(0)  # registered before the change is sent
    await ChangeFeed(nc).publish({"j2": "completed", "j1": "processing"})
    await ChangeFeed(nc).publish({"j1": "partial_failure"})
    assert await waiting == "partial_failure"
    assert watchers.waiting == {}


async def test_a_job_final_already_is_answered_at_once(nc: NATS) -> None:
    watchers = stored({"j1": "failed"})
    assert await watchers.final("j1", 10) == "failed"
    assert watchers.waiting == {}


async def test_a_wait_that_runs_out_or_is_cancelled_leaves_nothing(nc: NATS) -> None:
    watchers = stored({"j1": "submitted"})
    await watchers.subscribe(nc)
    assert await watchers.final("j1", 0.05) is None
    gone = asyncio.create_task(watchers.final("j1", 10))
    await asyncio.sleep(0)
    assert "j1" in watchers.waiting
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert watchers.waiting == {}
