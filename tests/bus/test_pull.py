"""Pull requests that die without a word (bus/pull.py): noticed by their missing heartbeats.

In a NATS cluster, a pull request waits at the consumer's leader; if that
node dies, a client connected to another node sees no disconnect and no
answer. Here the server is paused instead (SIGSTOP): just as silent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import MutableMapping
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from structlog.testing import capture_logs

from agent.pull import Puller
from devstack.process import ServerProcess
from devstack.until import until

HEARTBEAT = 0.5


async def test_a_request_whose_heartbeats_stop_is_replaced_long_before_its_expiry(
    nats_server: ServerProcess,
) -> None:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1)
    js = nc.jetstream()
    stream = f"HB{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=stream, subjects=[f"{stream}.>"])
    config = ConsumerConfig(durable_name="worker", ack_policy=AckPolicy.EXPLICIT)

    async def bind() -> None:
        await js.add_consumer(stream, config)

    await bind()
    got: list[Msg] = []
    puller = Puller(nc, stream, "worker", bind, got.append, lambda: 4, 30.0, HEARTBEAT)
    with capture_logs() as logs:
        task = asyncio.create_task(puller.run())
        try:
            await until(lambda: puller.requested > 0, "the first pull request")
            first = puller.deadline
            # Idle heartbeats keep the open request alive past its first two beats.
            await until(lambda: puller.deadline > first + HEARTBEAT, "a heartbeat")
            assert not _lost(logs)
            nats_server.pause()
            try:
                await until(lambda: _lost(logs), "the silent request given up", 5)
            finally:
                nats_server.resume()
            await js.publish(f"{stream}.job", b"1")
            await until(lambda: len(got) == 1, "the job on a request asked afresh")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await nc.close()


def _lost(logs: list[MutableMapping[str, Any]]) -> bool:
    return any(entry["event"] == "pull_request_lost" for entry in logs)
