"""The collector's standing pull request on the shared event consumer. I/O: NATS.

One request for up to ``limit`` events stays open (:class:`bus.pull.PullLoop`
renews it); JetStream pushes each event to it as soon as it is stored, and
the reply subscription (:func:`bus.raw.subscribe_raw`) appends
it to :attr:`EventPuller.buffer` without building a ``Msg``. The collector
takes whatever has arrived (:meth:`EventPuller.take`): one event when idle,
a big batch under load, never waiting for a batch to fill.

Flow control: events buffered or being written count against ``limit``
until the collector has acked them (:meth:`EventPuller.release`). A request
asks for at most ``chunk`` events, and a new one waits for half a chunk of
room, so a busy collector asks for big batches rather than a trickle of
small ones, while the next request is already filling during a write.
Several controllers may share the consumer: JetStream hands each stored
event to one open request.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription

from bus.pull import Binder, PullLoop
from bus.raw import subscribe_raw, unsubscribe_raw

# subject (bytes: only ever compared and decoded on a miss), ack subject, payload
Delivery = tuple[bytes, str, bytes]
# Short, unlike an agent's 30 s: an idle controller renews every few seconds, so
# a request lost without any sign is replaced within expiry + REQUEST_GUARD.
EVENT_PULL_EXPIRY = 5.0


class EventPuller(PullLoop[Delivery]):
    logger = "corral.collector"

    def __init__(
        self, nc: NATS, stream: str, consumer: str, bind: Binder, chunk: int, limit: int
    ) -> None:
        super().__init__(nc, stream, consumer, bind, self._arrive, self._room, EVENT_PULL_EXPIRY)
        self.chunk = chunk
        self.limit = limit
        self.buffer: list[Delivery] = []
        self.held = 0  # taken by the collector, not yet acked
        self.arrived = asyncio.Event()

    def take(self, most: int) -> list[Delivery]:
        """What has arrived, up to ``most`` events, now held until :meth:`release`."""
        if len(self.buffer) <= most:
            batch, self.buffer = self.buffer, []
            self.arrived.clear()
        else:
            batch = self.buffer[:most]
            del self.buffer[:most]
        self.held += len(batch)
        return batch

    def release(self, count: int) -> None:
        """``count`` taken events were acked (or will come back): room for more."""
        self.held -= count
        if self.requested <= 0:
            self.poke()

    def _room(self) -> int:
        free = min(self.chunk, self.limit - len(self.buffer) - self.held)
        return free if free * 2 >= self.chunk else 0

    def _on_reply(self, subject: bytes, reply: bytes, data: bytes, status: bytes) -> None:
        if status:
            code, _, description = status.decode(errors="replace").partition(" ")
            self.answered(code, description)
            return
        self.delivered()
        self.deliver((subject, reply.decode(), data))

    def _arrive(self, delivery: Delivery) -> None:
        self.buffer.append(delivery)
        self.arrived.set()

    async def _subscribe(self) -> Subscription:
        return await subscribe_raw(self.nc, self.nc.new_inbox(), self._on_reply)

    async def _unsubscribe(self) -> None:
        if self._sub is not None:
            await unsubscribe_raw(self.nc, self._sub)
            self._sub = None
