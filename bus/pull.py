"""Standing pull requests on a JetStream consumer: the protocol, not the transport. I/O: NATS.

Why not nats-py's ``fetch``: each fetch sends a no-wait request and then a
waiting one (two requests and a 404 per renewal), and waits for every message
through a new task (``uuid4``, ``wait_for``). An idle agent renewing its two
loops every 5 s that way is cheap; 10,000 virtual agents in one process are
not, and neither is a controller folding 20,000 events a second.

A :class:`PullLoop` keeps at most one pull request open on its consumer, for
as many messages as its owner has room for (``room``), expiring after
``expiry`` (30 s by default). JetStream delivers a message to an open request
as soon as it is stored, however long the request has left, so a long expiry
costs no latency; it only renews less often. The server ends an expired
request with a 408 status; a request that got all its messages needs no
answer. Either way the loop asks again once there is room.

A request can die without an answer: with the connection (the stall behind
nats.py#504), on a server that lost it, or with a consumer leader that died
in a NATS cluster (the new leader never heard of it, and a client connected
to another node sees no disconnect). So each request asks for an idle
heartbeat every ``heartbeat`` seconds (a ``100`` status while it has nothing
to deliver): a request that brought neither a message nor a heartbeat for
``MISSED_HEARTBEATS`` of them is taken for dead. The loop asks afresh, on a
new reply subject and after re-creating or checking its consumer (``bind``),
after a reconnect (its owner pokes it: :meth:`PullLoop.poke`), after
``REBIND_AFTER_ERRORS`` error statuses or dead requests in a row (503: no
consumer or no leader yet; 409: the leader changed or the server shuts
down). A failed ``bind`` (the broker, the new leader, or the controller that
creates an agent's consumer, not there yet) is tried again every second
until one works, however many times it fails.

Subclasses own the reply subscription (:meth:`PullLoop._subscribe`) and
report what arrives on it: :meth:`PullLoop.delivered` for a message,
:meth:`PullLoop.answered` for a status. JetStream delivers a message under
its own subject, not the reply subject, so each loop needs its own
subscription to tell its messages apart. The client is an argument: the
owner's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX as JS_API_PREFIX

PULL_EXPIRY = 30.0
# An idle request costs one heartbeat this often; a dead one is noticed within
# MISSED_HEARTBEATS of them (well inside a job's deadline).
PULL_HEARTBEAT = 5.0
MISSED_HEARTBEATS = 2
REQUEST_GUARD = 5.0  # past its expiry, an unanswered request is taken for dead
REBIND_PAUSE = 1.0
REBIND_AFTER_ERRORS = 3
ERROR_PAUSE = 0.5
STATUS = "Status"
ENDED = frozenset({"404", "408"})  # no messages; request expired: ask again
HEARTBEAT = "100"

Binder = Callable[[], Awaitable[Any]]
T = TypeVar("T")  # what a subclass hands over per message


class PullLoop(Generic[T]):
    """One pull loop on one consumer; a subclass receives the replies and ``deliver``s them."""

    logger = "corral.pull"

    def __init__(
        self,
        nc: NATS,
        stream: str,
        consumer: str,
        bind: Binder,
        deliver: Callable[[T], None],
        room: Callable[[], int],
        expiry: float = PULL_EXPIRY,
        heartbeat: float = PULL_HEARTBEAT,
    ) -> None:
        """``heartbeat``: 0 for none (then a request is dead only past its expiry)."""
        self.nc = nc
        self.subject = f"{JS_API_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.bind = bind
        self.deliver = deliver
        self.room = room
        self.expiry = expiry
        # The server requires the heartbeat to be well under the expiry.
        self.heartbeat = heartbeat if 0 < heartbeat <= expiry / 2 else 0.0
        self.requested = 0  # messages the open request may still bring
        self.deadline = 0.0  # monotonic: the open request is dead by then
        self.errors = 0
        self.log = structlog.get_logger(self.logger)
        self._sub: Subscription | None = None
        self._wake = asyncio.Event()

    @property
    def reply_subject(self) -> str:
        return self._sub.subject if self._sub is not None else ""

    def poke(self) -> None:
        """Look again now (room freed, the connection came back)."""
        self._wake.set()

    def delivered(self) -> None:
        """One message of the open request arrived."""
        self.requested -= 1
        self.errors = 0
        self._alive()
        if self.requested <= 0:
            self._wake.set()

    def _alive(self) -> None:
        """The open request was heard from: it lives until the next heartbeats are missed."""
        if self.heartbeat:
            self.deadline = time.monotonic() + self.heartbeat * MISSED_HEARTBEATS + ERROR_PAUSE

    def answered(self, status: str, description: str) -> None:
        """The server ended the open request (or sent a heartbeat)."""
        if status == HEARTBEAT:
            self._alive()
        elif status in ENDED:
            self.requested = 0
            self._wake.set()
        else:
            self.requested = 0
            self.errors += 1
            self.log.warning("pull_request_failed", status=status, description=description)
            self._wake.set()

    async def _subscribe(self) -> Subscription:
        raise NotImplementedError

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
            self.log.warning("pull_rebind_failed", error=str(exc) or type(exc).__name__)
            # Counted, so the loop tries again unprompted instead of waiting for a poke.
            self.errors += 1
            await asyncio.sleep(REBIND_PAUSE)
            return
        self.errors = 0
        self.log.info("pull_rebound", consumer=self.subject.rsplit(".", 1)[-1])

    async def _ask(self, reply: str) -> None:
        now = time.monotonic()
        if self.requested > 0 and now < self.deadline:
            return  # the open request is alive
        if self.requested > 0:
            self.errors += 1  # it never answered: dead
            self.log.warning("pull_request_lost", consumer=self.subject.rsplit(".", 1)[-1])
        free = self.room()
        if free <= 0:
            self.requested = 0
            return
        expires = int(self.expiry * 1e9)
        beat = f',"idle_heartbeat":{int(self.heartbeat * 1e9)}' if self.heartbeat else ""
        payload = f'{{"batch":{free},"expires":{expires}{beat}}}'.encode()
        try:
            await self.nc.publish(self.subject, payload, reply=reply)
        except Exception as exc:  # noqa: BLE001 - broker hiccup: count it and ask again
            self.errors += 1
            self.requested = 0
            self.log.warning("pull_request_not_sent", error=str(exc) or type(exc).__name__)
            return
        self.requested = free
        self.deadline = now + self.expiry + REQUEST_GUARD
        self._alive()

    async def _wait(self) -> None:
        """Until a message, an answer, a poke or the open request's deadline."""
        if self.errors and self.requested <= 0:
            return
        timeout = self.deadline - time.monotonic() if self.requested > 0 else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
