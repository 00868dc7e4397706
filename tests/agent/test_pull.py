"""Standing pull requests (agent/pull.py) against a real nats-server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from agent.pull import Puller
from devstack.until import until


@dataclass
class Setup:
    nc: NATS
    stream: str
    consumer: str
    got: list[Msg] = field(default_factory=list)
    binds: int = 0
    refuse: int = 0  # binds to fail first, as with no controller to answer

    async def bind(self) -> None:
        self.binds += 1
        if self.refuse:
            self.refuse -= 1
            raise RuntimeError("nobody answered")
        await self.nc.jetstream().add_consumer(self.stream, self.config())

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(durable_name=self.consumer, ack_policy=AckPolicy.EXPLICIT)

    def puller(self, expiry: float = 30.0, free: int = 4) -> Puller:
        return Puller(
            self.nc, self.stream, self.consumer, self.bind, self.got.append, lambda: free, expiry
        )

    async def publish(self, count: int = 1) -> None:
        for index in range(count):
            await self.nc.jetstream().publish(f"{self.stream}.job", str(index).encode())


@pytest.fixture
async def setup(nats_url: str) -> AsyncIterator[Setup]:
    nc = await nats.connect(nats_url)
    name = f"PULL{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    found = Setup(nc, name, "worker")
    await found.bind()
    try:
        yield found
    finally:
        await js.delete_stream(name)
        await nc.close()


async def running(puller: Puller) -> asyncio.Task[None]:
    task = asyncio.create_task(puller.run())
    await until(lambda: puller.requested > 0, "the first pull request")
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_job_is_delivered_at_once_on_a_long_open_request(setup: Setup) -> None:
    puller = setup.puller(expiry=30.0)
    task = await running(puller)
    try:
        started = time.monotonic()
        await setup.publish()
        await until(lambda: len(setup.got) == 1, "the job")
        assert time.monotonic() - started < 10.0  # not held until the request expires
        assert puller.requested == 3  # the request stays open for the other slots
    finally:
        await stop(task)


async def test_an_expired_request_is_renewed(setup: Setup) -> None:
    puller = setup.puller(expiry=0.3)
    task = await running(puller)
    try:
        first = puller.deadline
        await until(lambda: puller.deadline > first, "a renewed request")
        assert puller.errors == 0  # a 408 is the normal end of a request
        await setup.publish()
        await until(lambda: len(setup.got) == 1, "the job on the renewed request")
    finally:
        await stop(task)


async def test_a_request_for_the_free_slots_is_renewed_once_used_up(setup: Setup) -> None:
    puller = setup.puller(free=2)
    task = await running(puller)
    try:
        assert puller.requested == 2
        await setup.publish(3)
        # The first request brings two; the third comes on the next one, long
        # before the first would have expired (30 s).
        await until(lambda: len(setup.got) == 3, "the third job on a new request")
    finally:
        await stop(task)


async def test_a_deleted_consumer_is_recreated_and_pulling_resumes(setup: Setup) -> None:
    puller = setup.puller(expiry=30.0)
    task = await running(puller)
    try:
        await setup.nc.jetstream().delete_consumer(setup.stream, setup.consumer)
        binds = setup.binds
        # The open request ends with an error status; so do requests to no consumer.
        await until(lambda: setup.binds > binds, "the consumer re-created", within=15.0)
        await setup.publish()
        await until(lambda: len(setup.got) == 1, "the job after the rebind")
    finally:
        await stop(task)


async def test_a_poke_after_a_reconnect_asks_afresh(setup: Setup) -> None:
    puller = setup.puller(expiry=30.0)
    task = await running(puller)
    try:
        reply = puller.reply_subject
        binds = setup.binds
        # What a reconnect looks like to the pull loop: the counter moves, then a poke.
        setup.nc.stats["reconnects"] += 1
        puller.poke()
        await until(lambda: puller.reply_subject != reply, "a new reply subject")
        assert setup.binds == binds + 1
        await setup.publish()
        await until(lambda: len(setup.got) == 1, "the job on the new request")
    finally:
        await stop(task)


async def test_a_rebind_that_fails_after_a_reconnect_is_tried_again_unprompted(
    setup: Setup,
) -> None:
    puller = setup.puller(expiry=30.0)
    task = await running(puller)
    try:
        setup.refuse = 2
        binds = setup.binds
        setup.nc.stats["reconnects"] += 1
        puller.poke()  # the one poke a reconnect gives
        await until(lambda: setup.binds == binds + 3, "two failed binds, then one that works")
        await setup.publish()
        await until(lambda: len(setup.got) == 1, "the job after the rebind")
    finally:
        await stop(task)
