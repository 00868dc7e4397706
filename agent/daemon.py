"""One agent: its consumers, pull loops, concurrency limit and heartbeats. I/O: NATS.

The agent pulls from a durable consumer over its own subjects (``_all``, its
hostname, its label prefixes), which a controller creates for it on request
(agent/own_consumer.py), and from the shared ``corral-any`` consumer. Each
pull loop (:class:`agent.pull.Puller`) keeps one long pull request open for
only as many messages as there are free slots, and running jobs share one
pool of ``max_concurrency`` slots, so JetStream never piles up work this
agent cannot start soon. A swarm runs many of these on one
connection (``bench/swarm.py``).

A pull request can die with the connection (nats.py#504). After a reconnect
the heartbeat loop pokes both pull loops, which ask afresh on a new reply
subject and have the agent's consumer created again if the server lost it
(its state lives in the broker's memory: it starts again at the agent's
floor, agent/floor.py); they do the same after a few failed requests in a
row (agent/pull.py).

Signed cancel requests arrive on one subscription per process, not per agent
(agent/cancels.py), held next to :meth:`Agent.run` by whoever runs it: an
agent process (:func:`agent.server.run_with_cancels`) or a swarm.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from agent.own_consumer import ACK_WAIT, MAX_DELIVERIES, ConsumerRefused, OwnConsumer
from agent.pull import Puller
from agent.runtime import InProgress, Runtime
from common import subjects
from common.messages import ENCODER, ConsumerRequest, Facts, Heartbeat

log = structlog.get_logger("corral.agent")


async def _nothing() -> None:
    """The shared consumer's binder: the controller re-creates it, not agents."""


async def stop_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel until every task ended: in Python 3.11 ``asyncio.wait_for``, which
    nats-py awaits under its requests and flushes, can swallow a cancel that
    races with its result."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)


class Agent:
    def __init__(
        self,
        nc: NATS,
        runtime: Runtime,
        facts: Facts,
        *,
        max_concurrency: int,
        heartbeat_interval: float,
        max_deliveries: int = MAX_DELIVERIES,
        ack_wait: float = ACK_WAIT,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.runtime = runtime
        self.facts = facts
        # Escaped once, not per beat: a swarm beats thousands of times a second.
        self.heartbeat_subject = subjects.heartbeat_of(runtime.hostname)
        self.max_concurrency = max_concurrency
        self.heartbeat_interval = heartbeat_interval
        self.max_deliveries = max_deliveries
        self.ack_wait = ack_wait
        self.slots = asyncio.Semaphore(max_concurrency)
        self.running = 0
        self.inflight = 0
        self.pullers: list[Puller] = []
        self.own = OwnConsumer(
            nc,
            runtime.journal,
            runtime.hostname,
            ConsumerRequest(
                labels=runtime.labels,
                slots=max_concurrency,
                max_deliveries=max_deliveries,
                ack_wait=ack_wait,
            ),
        )
        self.ready = asyncio.Event()

    @property
    def hostname(self) -> str:
        return self.runtime.hostname

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then finish running jobs and say goodbye."""
        await self._serve(stop)
        # Every running job has reported by now (the TaskGroup waited for them).
        self.own.save()
        await self._heartbeat("offline")
        log.info("agent_stopped", hostname=self.hostname)

    async def _serve(self, stop: asyncio.Event) -> None:
        await self._bind_own()
        floor = self.own.floor
        async with asyncio.TaskGroup() as jobs:

            def deliver(msg: Msg) -> None:
                self.inflight += 1
                jobs.create_task(self._run_one(msg, None))

            def deliver_own(msg: Msg) -> None:
                seq = msg.metadata.sequence.stream
                floor.received(seq)
                self.inflight += 1
                jobs.create_task(self._run_one(msg, seq))

            stream = subjects.JOBS_STREAM
            own = self.own
            self.pullers = [
                Puller(self.nc, stream, own.name, own.bind, deliver_own, self._free),
                # The controller owns the shared consumer (controller/streams.py).
                Puller(
                    self.nc, stream, subjects.ANY_CONSUMER, _nothing, deliver, self._free_for_any
                ),
            ]
            loops = [asyncio.create_task(puller.run()) for puller in self.pullers]
            beats = asyncio.create_task(self._heartbeats())
            self.ready.set()
            log.info("agent_ready", hostname=self.hostname)
            try:
                await stop.wait()
            finally:
                await stop_all([*loops, beats])

    def _free(self) -> int:
        return self.max_concurrency - self.inflight

    def _free_for_any(self) -> int:
        return 0 if self.runtime.drained else self._free()

    def set_drained(self, drained: bool) -> None:
        """Stop or resume taking ``_any`` jobs (agent/drain.py)."""
        self.runtime.drained = drained
        if not drained:
            for puller in self.pullers:
                puller.poke()

    async def _bind_own(self) -> None:
        """Have this agent's consumer created or updated, waiting for a controller."""
        delay = 0.2
        while True:
            try:
                await self.own.bind()
                await self._heartbeat("online")
                return
            except (nats.js.errors.Error, nats.errors.Error, TimeoutError, ConsumerRefused) as exc:
                # A controller creates the streams and the consumer; wait for it rather than fail.
                log.info("agent_waiting_for_controller", error=str(exc) or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _run_one(self, msg: Any, own_seq: int | None) -> None:
        """``own_seq``: the stream sequence of a message from the agent's own consumer."""
        # Both pull loops may fetch at once, so a message can wait for a slot;
        # keep its ack timer fresh meanwhile so it is not redelivered.
        # A third of the shortest ack wait (the shared consumer's is ACK_WAIT).
        every = min(self.ack_wait, ACK_WAIT) / 3
        keepalive = InProgress(msg, every)
        try:
            async with self.slots:
                self.running += 1
                try:
                    if await self.runtime.handle(msg) and own_seq is not None:
                        self.own.floor.settled(own_seq)
                finally:
                    self.running -= 1
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the agent
            log.error("job_crashed", error=repr(exc))
        finally:
            keepalive.stop()
            self.inflight -= 1
            for puller in self.pullers:
                if puller.requested <= 0:
                    puller.poke()

    async def _heartbeats(self) -> None:
        reconnects = self.nc.stats["reconnects"]
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.nc.stats["reconnects"] != reconnects:
                # Open pull requests died with the old connection: ask again now.
                reconnects = self.nc.stats["reconnects"]
                for puller in self.pullers:
                    puller.poke()
            try:
                # Not flushed: the connection's flusher sends it at once, and a
                # PING round trip per beat is most of an idle swarm's traffic.
                await self._heartbeat("online", flush=False)
            except Exception as exc:  # noqa: BLE001 - keep beating through reconnects
                log.warning("heartbeat_failed", error=str(exc))
            # The consumer's floor, on the same beat (agent/own_consumer.py).
            self.own.save()
            try:
                await self.own.refresh()
            except Exception as exc:  # noqa: BLE001 - pinned a beat longer: only more re-sends
                log.warning("consumer_floor_unread", error=str(exc) or type(exc).__name__)

    async def _heartbeat(self, state: str, *, flush: bool = True) -> None:
        beat = Heartbeat(
            hostname=self.hostname,
            labels=self.runtime.labels,
            facts=self.facts,
            sent_at=time.time(),
            interval=self.heartbeat_interval,
            state=state,
            running=self.running,
            refusals=dict(self.runtime.refused),
            drained=self.runtime.drained,
        )
        await self.nc.publish(self.heartbeat_subject, ENCODER.encode(beat))
        if flush:
            await self.nc.flush()
