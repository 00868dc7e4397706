"""Standing pull requests on a JetStream consumer, answered by callback. I/O: NATS.

Why not nats-py's ``fetch``: each fetch sends a no-wait request and then a
waiting one (two requests and a 404 per renewal), and waits for every message
through a new task (``uuid4``, ``wait_for``). An idle agent renewing its two
loops every 5 s that way is cheap; 10,000 virtual agents in one process are
not (about 8,000 pull requests a second with no job).

A :class:`Puller` keeps at most one pull request open on its consumer, for as
many messages as the agent has free slots, expiring after ``expiry`` (30 s by
default). JetStream delivers a job to an open request as soon as it is stored,
however long the request has left, so a long expiry costs no latency; it only
renews less often. The server ends an expired request with a 408 status; a
request that got all its messages needs no answer. Either way the puller asks
again once there is room.

A request can die without an answer: with the connection (the stall behind
nats.py#504), or on a server that lost it. The puller asks afresh, on a new
reply subject and after re-creating its consumer (``bind``), after a
reconnect (the agent pokes it: :meth:`Puller.poke`), after
``REBIND_AFTER_ERRORS`` error statuses in a row (503: no consumer; 409), and
when a request outlives its expiry by ``REQUEST_GUARD`` with no answer.

Each puller has its own reply subscription, with a callback: JetStream
delivers a job under its own subject, not the reply subject, so one shared
wildcard subscription could not tell which pull loop asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX

log = structlog.get_logger("corral.agent")
PULL_EXPIRY = 30.0
REQUEST_GUARD = 5.0  # past its expiry, an unanswered request is taken for dead
REBIND_AFTER_ERRORS = 3
ERROR_PAUSE = 0.5
STATUS = "Status"
ENDED = frozenset({"404", "408"})  # no messages; request expired: ask again
HEARTBEAT = "100"

Binder = Callable[[], Awaitable[Any]]


class Puller:
    """The pull loop of one agent on one consumer."""

    def __init__(
        self,
        nc: NATS,
        stream: str,
        consumer: str,
        bind: Binder,
        deliver: Callable[[Msg], None],
        room: Callable[[], int],
        expiry: float = PULL_EXPIRY,
    ) -> None:
        self.nc = nc
        self.subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.bind = bind
        self.deliver = deliver
        self.room = room
        self.expiry = expiry
        self.requested = 0  # messages the open request may still bring
        self.deadline = 0.0  # monotonic: the open request is dead by then
        self.errors = 0
        self._sub: Subscription | None = None
        self._wake = asyncio.Event()

    @property
    def reply_subject(self) -> str:
        return self._sub.subject if self._sub is not None else ""

    def poke(self) -> None:
        """Look again now (a slot freed, the connection came back)."""
        self._wake.set()

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(STATUS) if msg.headers and not msg.data else None
        if status is None:
            self.requested -= 1
            self.errors = 0
            self.deliver(msg)
            if self.requested <= 0:
                self._wake.set()
        elif status in ENDED:
            self.requested = 0
            self._wake.set()
        elif status != HEARTBEAT:
            self.requested = 0
            self.errors += 1
            description = msg.headers.get("Description", "") if msg.headers else ""
            log.warning("pull_request_failed", status=status, description=description)
            self._wake.set()

    async def run(self, bound: bool = True) -> None:
        """Pull until cancelled; ``bound``: the consumer exists already."""
        reconnects = self.nc.stats["reconnects"]
        if bound:
            with contextlib.suppress(Exception):  # else bound in the loop, with retries
                self._sub = await self._subscribe()
        try:
            while True:
                self._wake.clear()
                if self._sub is None or self.errors >= REBIND_AFTER_ERRORS:
                    await self._rebind()
                elif self.nc.stats["reconnects"] != reconnects:
                    reconnects = self.nc.stats["reconnects"]
                    await self._rebind()
                elif self.errors:
                    await asyncio.sleep(ERROR_PAUSE)
                if self._sub is not None:
                    await self._ask(self._sub.subject)
                await self._wait()
        finally:
            await self._unsubscribe()

    async def _subscribe(self) -> Subscription:
        return await self.nc.subscribe(self.nc.new_inbox(), cb=self._on_message)

    async def _unsubscribe(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _rebind(self) -> None:
        """A new reply subject, after re-creating the consumer; pauses if that fails."""
        await self._unsubscribe()
        self.requested = 0
        try:
            await self.bind()
            self._sub = await self._subscribe()
        except Exception as exc:  # noqa: BLE001 - retried: the broker may not be back yet
            log.warning("pull_rebind_failed", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(1.0)
            return
        self.errors = 0
        log.info("pull_rebound", consumer=self.subject.rsplit(".", 1)[-1])

    async def _ask(self, reply: str) -> None:
        now = time.monotonic()
        if self.requested > 0 and now < self.deadline:
            return  # the open request is alive
        if self.requested > 0:
            self.errors += 1  # it never answered: dead
            log.warning("pull_request_lost", consumer=self.subject.rsplit(".", 1)[-1])
        free = self.room()
        if free <= 0:
            self.requested = 0
            return
        expires = int(self.expiry * 1e9)
        payload = f'{{"batch":{free},"expires":{expires}}}'.encode()
        try:
            await self.nc.publish(self.subject, payload, reply=reply)
        except Exception as exc:  # noqa: BLE001 - broker hiccup: count it and ask again
            self.errors += 1
            self.requested = 0
            log.warning("pull_request_not_sent", error=str(exc) or type(exc).__name__)
            return
        self.requested = free
        self.deadline = now + self.expiry + REQUEST_GUARD

    async def _wait(self) -> None:
        """Until a message, an answer, a poke or the open request's deadline."""
        if self.errors and self.requested <= 0:
            return
        timeout = self.deadline - time.monotonic() if self.requested > 0 else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
