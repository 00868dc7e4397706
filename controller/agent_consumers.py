"""Each agent's own consumer, created and updated by a controller on the agent's request. I/O: NATS.

An agent's NATS user may not create or change consumers (deploy/nats): with
that right it could set its consumer's filter to ``corral.job.>`` and read
every host's jobs, since nats-server cannot pin a multi-filter consumer's
filter by permission (docs/security.md). So the agent asks: a core NATS
request on ``corral.control.consumer.<host>``, which only its user may
publish. Every controller replica answers in one queue group; the one that
gets the request:

- takes the hostname from the subject, never from the body, and derives the
  filter from it and the labels the agent declares (``_all``, its host, each
  label's ancestors: common/subjects.py); the body sets only bounded numbers;
- if ``agent-<host>`` exists, updates it in place, keeping how it started and
  its storage, which the broker cannot change;
- if not, creates it at the agent's floor when the agent saved one on this
  very stream (the stream's creation time tells a recreated stream apart),
  else at the stream's end, as a new agent must not replay old broadcasts;
- answers with the consumer's ack floor and last delivery (agent/floor.py),
  or an ``error``.

The consumer keeps its state in the broker's memory (``mem_storage``): a
file-backed state per agent made every ack of a broadcast a file write.
"""

from __future__ import annotations

import asyncio
import dataclasses

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

from common import subjects
from common.messages import CONSUMER_REQUEST_DECODER, ConsumerReply, ConsumerRequest, encode
from common.targets import TargetError, parse_labels, validate_hostname

log = structlog.get_logger("corral.controller")
QUEUE = "corral-controllers"
# Requests answered at once per replica: a swarm starts agents 50 at a time.
WORKERS = 32
# A consumer with thousands of filters would be one agent's denial of service.
MAX_FILTER_SUBJECTS = 256
INACTIVE_THRESHOLD = 7 * 24 * 3600.0  # consumers of decommissioned agents go away


class RequestError(ValueError):
    """A consumer request refused; the agent gets the message as its ``error``."""


def agent_consumer_config(hostname: str, request: ConsumerRequest) -> ConsumerConfig:
    """``agent-<host>`` as ``request`` asks for it, at the stream's end."""
    filters = subjects.agent_job_subjects(hostname, request.labels)
    if len(filters) > MAX_FILTER_SUBJECTS:
        raise RequestError(f"{len(filters)} filter subjects, at most {MAX_FILTER_SUBJECTS}")
    return ConsumerConfig(
        durable_name=subjects.agent_consumer(hostname),
        filter_subjects=filters,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        ack_wait=request.ack_wait,
        # One more than the agent runs: the last delivery ends `failed` with a reason.
        max_deliver=request.max_deliveries + 1,
        max_ack_pending=max(request.slots * 4, 16),
        inactive_threshold=INACTIVE_THRESHOLD,
        mem_storage=True,
    )


def requester(subject: str) -> str:
    """The hostname a request subject names, if it is one an agent could be given."""
    token = subject.rsplit(".", 1)[-1]
    try:
        hostname = validate_hostname(subjects.decode_token(token))
    except (ValueError, TargetError) as exc:
        raise RequestError(f"not an agent's subject: {subject[:300]!r}") from exc
    if subjects.consumer_request_of(hostname) != subject:
        # One host, one subject: a second spelling would dodge per-user permissions.
        raise RequestError(f"not the canonical subject of {hostname!r}")
    return hostname


def read_request(data: bytes) -> ConsumerRequest:
    try:
        request = CONSUMER_REQUEST_DECODER.decode(data)
        parse_labels(f"{key}={value}" for key, value in request.labels.items())
    except (msgspec.DecodeError, TargetError) as exc:
        raise RequestError(str(exc)) from exc
    return request


class AgentConsumers:
    """Answers agents' consumer requests until stopped (see the module docstring)."""

    def __init__(self, nc: NATS, js: JetStreamContext, workers: int = WORKERS) -> None:
        self.nc = nc
        self.js = js
        self.stream = subjects.JOBS_STREAM
        self._room = asyncio.Semaphore(workers)
        self.listening = asyncio.Event()  # the server has the subscription

    async def run(self, stop: asyncio.Event) -> None:
        """Answer requests until ``stop``; then finish the requests under way."""
        async with asyncio.TaskGroup() as answering:

            async def on_request(msg: Msg) -> None:
                await self._room.acquire()  # a full house holds the subscription back
                answering.create_task(self._answer(msg))

            sub = await self.nc.subscribe(subjects.CONSUMER_REQUESTS, queue=QUEUE, cb=on_request)
            try:
                await self.nc.flush()
                self.listening.set()
                await stop.wait()
            finally:
                await sub.unsubscribe()

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = await self.answer(msg.subject, msg.data)
            if msg.reply:
                await self.nc.publish(msg.reply, encode(reply))
        except Exception as exc:  # noqa: BLE001 - one request must not stop the others
            log.warning("agent_consumer_failed", subject=msg.subject, error=repr(exc))
        finally:
            self._room.release()

    async def answer(self, subject: str, data: bytes) -> ConsumerReply:
        """The reply to one request: the consumer as it is now, or why not."""
        try:
            hostname = requester(subject)
            request = read_request(data)
            config = agent_consumer_config(hostname, request)
        except RequestError as exc:
            log.warning("agent_consumer_refused", subject=subject[:300], error=str(exc))
            return ConsumerReply(error=str(exc))
        try:
            return await self.ensure(config, request)
        except Exception as exc:  # noqa: BLE001 - the agent asks again; say why
            log.warning("agent_consumer_failed", hostname=hostname, error=repr(exc))
            return ConsumerReply(error=f"the controller could not set it up: {exc!r}")

    async def ensure(self, config: ConsumerConfig, request: ConsumerRequest) -> ConsumerReply:
        """Update ``config``'s consumer in place, or create it (at the floor if it applies)."""
        name = config.durable_name or ""
        try:
            info = await self.js.consumer_info(self.stream, name)
        except NotFoundError:
            return await self._create(config, request)
        kept = dataclasses.replace(
            config,
            deliver_policy=info.config.deliver_policy,
            opt_start_seq=info.config.opt_start_seq,
            mem_storage=info.config.mem_storage,
        )
        info = await self.js.add_consumer(self.stream, kept)
        return _reply(info, await self._stream_id(), created=False, start=0)

    async def _create(self, config: ConsumerConfig, request: ConsumerRequest) -> ConsumerReply:
        stream_id = await self._stream_id()
        start = request.floor if request.floor and request.stream_id == stream_id else 0
        if start:
            config = dataclasses.replace(
                config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
            )
        info = await self.js.add_consumer(self.stream, config)
        log.info("agent_consumer_created", consumer=info.name, start=start or "stream end")
        return _reply(info, stream_id, created=True, start=start)

    async def _stream_id(self) -> str:
        info = await self.js.stream_info(self.stream)
        return info.created.isoformat() if info.created else ""


def _reply(info: ConsumerInfo, stream_id: str, *, created: bool, start: int) -> ConsumerReply:
    return ConsumerReply(
        consumer=info.name,
        created=created,
        start=start,
        stream_id=stream_id,
        ack_floor=info.ack_floor.stream_seq if info.ack_floor else 0,
        delivered=info.delivered.stream_seq if info.delivered else 0,
    )
