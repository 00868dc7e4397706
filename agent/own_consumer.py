"""The agent's own durable consumer: asked for, (re)bound, and its floor kept. I/O: NATS, journal.

The agent may not create or change consumers (deploy/nats): a controller
does it on request (controller/agent_consumers.py), with the filter derived
from the agent's hostname and the labels it declares, so the agent cannot
widen what it reads. The request (``corral.control.consumer.<host>``)
carries the labels, the agent's settings and its *floor* (agent/floor.py):
where the consumer must start if it has to be created again.

The consumer (``_all``, the hostname, the label prefixes) keeps its state in
the broker's memory: a broker restart forgets it, and the controller then
creates it again at the floor, so nothing stored for the agent is skipped.
Binding goes:

1. the first time, always ask: labels or settings may have changed since the
   last process, and the controller updates the consumer in place (keeping
   how it started) or creates it, at the floor if one was saved on this very
   stream, else at the stream's end;
2. later (a reconnect, failing pull requests), look it up first (the agent
   may read its own consumer's info) and ask only if it is gone, so a
   reconnect needs no controller.

The floor is saved in the journal every heartbeat it moved, and when the
agent stops, so a restarted agent process that finds the consumer gone
starts where the last one stopped, not at the stream's end.
"""

from __future__ import annotations

import msgspec
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from agent.floor import Floor
from agent.journal import Journal
from common import subjects
from common.config import DEFAULT_MAX_DELIVERIES
from common.messages import CONSUMER_REPLY_DECODER, ConsumerReply, ConsumerRequest, encode

log = structlog.get_logger("corral.agent")
ACK_WAIT = 30.0
MAX_DELIVERIES = DEFAULT_MAX_DELIVERIES
REQUEST_TIMEOUT = 5.0  # a controller answers after two or three JetStream API calls


class ConsumerRefused(Exception):
    """No consumer for now: the controller said why (or its answer was unreadable)."""


class OwnConsumer:
    """Binds the agent's consumer and keeps its floor (see the module docstring)."""

    def __init__(
        self,
        nc: NATS,
        journal: Journal,
        hostname: str,
        request: ConsumerRequest,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        """``request``: the labels and settings to ask with (the floor is added per request)."""
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.journal = journal
        self.request = request
        self.timeout = timeout
        self.name = subjects.agent_consumer(hostname)
        self.subject = subjects.consumer_request_of(hostname)
        self.stream = subjects.JOBS_STREAM
        self.floor = Floor()
        self.confirmed = False  # a controller set it up for this process
        self._stream_id: str | None = None  # the jobs stream's creation time, once known
        self._loaded = False
        self._saved: tuple[str, int] | None = None

    async def bind(self) -> None:
        """Make sure the consumer exists; raises while it does not and none could be had."""
        await self._load()
        if self.confirmed and await self._found():
            return
        reply = await self._ask()
        self._stream_id = reply.stream_id
        self.floor.bound(reply.ack_floor, reply.delivered)
        self.confirmed = True
        if reply.created:
            log.info("own_consumer_created", consumer=self.name, start=reply.start or "stream end")
        self.save()  # a consumer just created must not be forgotten where it starts

    async def _load(self) -> None:
        if self._loaded:
            return
        saved = await self.journal.position(self.name)
        if saved is not None:
            self._stream_id, floor = saved
            self.floor = Floor(floor)
            self._saved = saved
        self._loaded = True

    async def _found(self) -> bool:
        """The consumer is still there: bound to it as the broker reports it."""
        try:
            info = await self.js.consumer_info(self.stream, self.name)
        except nats.js.errors.NotFoundError:
            return False
        acked = info.ack_floor.stream_seq if info.ack_floor else 0
        delivered = info.delivered.stream_seq if info.delivered else 0
        self.floor.bound(acked, delivered)
        return True

    async def _ask(self) -> ConsumerReply:
        """A controller's answer; raises on none (nats errors) or a refusal."""
        request = msgspec.structs.replace(
            self.request, stream_id=self._stream_id or "", floor=self.floor.value() or 0
        )
        msg = await self.nc.request(self.subject, encode(request), timeout=self.timeout)
        try:
            reply = CONSUMER_REPLY_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            raise ConsumerRefused(f"unreadable answer: {exc}") from exc
        if reply.error:
            raise ConsumerRefused(reply.error)
        return reply

    async def refresh(self) -> None:
        """While the floor is pinned, read the broker's ack floor again."""
        if self.floor.pinned:
            info = await self.js.consumer_info(self.stream, self.name)
            if info.ack_floor is not None:
                self.floor.refresh(info.ack_floor.stream_seq)

    def save(self) -> None:
        """Record the floor in the journal if it moved (queued, not awaited)."""
        floor = self.floor.value()
        if floor is None or self._stream_id is None:
            return
        position = (self._stream_id, floor)
        if position != self._saved:
            self.journal.save_position(self.name, *position)
            self._saved = position
