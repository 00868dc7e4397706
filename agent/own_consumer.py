"""The agent's own durable consumer: its config, (re)binding, and its floor. I/O: NATS, journal.

The consumer (``_all``, the hostname, the label prefixes) keeps its state in
the broker's memory (``mem_storage``): a file-backed state per agent made
every ack of a broadcast a file write, N of them per broadcast. A broker
restart forgets it; :meth:`OwnConsumer.bind` then creates it again at the
agent's floor (agent/floor.py), so nothing stored for the agent is
skipped. Binding goes:

1. the consumer exists: updated in place (labels may have changed), keeping
   how it started and its storage, which the broker cannot change;
2. it does not, and the agent has a floor on this very stream (the stream's
   creation time tells a recreated stream apart): created starting there;
3. otherwise (a new agent, or a new stream): created at the stream's end,
   as a new agent must not replay last week's broadcasts.

The floor is saved in the journal every heartbeat it moved, and when the
agent stops, so a restarted agent process that finds the consumer gone
starts where the last one stopped, not at the stream's end.
"""

from __future__ import annotations

import dataclasses

import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy

from agent.floor import Floor
from agent.journal import Journal
from common import subjects
from common.config import DEFAULT_MAX_DELIVERIES

log = structlog.get_logger("corral.agent")
ACK_WAIT = 30.0
MAX_DELIVERIES = DEFAULT_MAX_DELIVERIES


def own_consumer_config(
    hostname: str,
    labels: dict[str, str],
    slots: int,
    max_deliveries: int = MAX_DELIVERIES,
    ack_wait: float = ACK_WAIT,
) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.agent_consumer(hostname),
        filter_subjects=subjects.agent_job_subjects(hostname, labels),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,  # at the stream's end, unless bind() says otherwise
        ack_wait=ack_wait,
        # One more than the agent runs: the last delivery ends `failed` with a reason.
        max_deliver=max_deliveries + 1,
        max_ack_pending=max(slots * 4, 16),
        # Consumers of decommissioned agents go away on their own.
        inactive_threshold=7 * 24 * 3600.0,
        mem_storage=True,
    )


class OwnConsumer:
    """Binds the agent's consumer and keeps its floor (see the module docstring)."""

    def __init__(self, js: JetStreamContext, journal: Journal, config: ConsumerConfig) -> None:
        self.js = js
        self.journal = journal
        self.config = config
        self.name = config.durable_name or ""
        self.stream = subjects.JOBS_STREAM
        self.floor = Floor()
        self._stream_id: str | None = None  # the jobs stream's creation time, once known
        self._loaded = False
        self._saved: tuple[str, int] | None = None

    async def bind(self) -> None:
        """Create or update the consumer; raises while the broker or stream is missing."""
        if not self._loaded:
            saved = await self.journal.position(self.name)
            if saved is not None:
                self._stream_id, floor = saved
                self.floor = Floor(floor)
                self._saved = saved
            self._loaded = True
        try:
            info = await self.js.consumer_info(self.stream, self.name)
        except nats.js.errors.NotFoundError:
            info = await self._create()
        else:
            kept = dataclasses.replace(
                self.config,
                deliver_policy=info.config.deliver_policy,
                opt_start_seq=info.config.opt_start_seq,
                mem_storage=info.config.mem_storage,
            )
            info = await self.js.add_consumer(self.stream, kept)
            if self._stream_id is None:
                self._stream_id = await self._current_stream_id()
        acked = info.ack_floor.stream_seq if info.ack_floor else 0
        delivered = info.delivered.stream_seq if info.delivered else 0
        self.floor.bound(acked, delivered)
        self.save()  # a consumer just created must not be forgotten where it starts

    async def _create(self) -> ConsumerInfo:
        stream_id = await self._current_stream_id()
        start = self.floor.value() if stream_id == self._stream_id else None
        self._stream_id = stream_id
        config = self.config
        if start is not None:
            config = dataclasses.replace(
                config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            )
        log.info("own_consumer_created", consumer=self.name, start=start or "stream end")
        return await self.js.add_consumer(self.stream, config)

    async def _current_stream_id(self) -> str:
        info = await self.js.stream_info(self.stream)
        return info.created.isoformat() if info.created else ""

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
