"""Events -> store: standing pull, group by job, one pipeline, then ack. I/O: NATS, Redis.

The events come from one standing pull request on the controllers' shared
durable consumer (:mod:`controller.collect.event_pull`), straight from the protocol
parser into a buffer; each batch is whatever has arrived, written while the
next arrives.

An event is acked only after its batch is written, so a controller that dies
mid-batch loses nothing: JetStream redelivers and the store's first-copy-wins
write makes the replay harmless. The apply script gives a job its final
status in the call that stores its last expected answer, so a batch costs
two round trips (the scripts, then the listing index) however many jobs it
finishes; only a job the script could not decide is finalized here. A job
that a request in this process waits for (``POST /job?wait=``) is read back
in the first of those round trips, and a final one's detail goes to the
waiter with the change (controller/watch/), so its answer needs no read.

A message holds one event or several of one job (a quick job's progress
rides with its terminal event: agent/events.py); each event is folded on its
own, and the message is acked or rejected as a whole.

Messages that do not decode, that are oversized, or that claim to come from
an agent other than the one whose subject they were sent on (or from the
controller), are logged (``message_rejected``), terminated and never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from nats.aio.client import Client as NATS

from common import limits, subjects
from common.job import FINAL_STATUSES
from common.messages import ENCODER, EVENT_MESSAGE_DECODER, Event, event_id, event_kind
from controller.collect.event_pull import Delivery, EventPuller
from controller.metrics import ControllerMetrics
from controller.store.jobs import JobStore
from controller.store.read_cache import DetailReader
from controller.store.scripts import Applied
from controller.upkeep.finalize import finalize
from controller.watch.changes import ChangeFeed

log = structlog.get_logger("corral.collector")

Grouped = dict[str, list[tuple[Event, bytes]]]
# Far above any honest event (agents cap stdout and stderr at max_output_bytes,
# 64 KiB each by default), far below NATS's 1 MiB max_payload.
MAX_EVENT_BYTES = limits.MAX_EVENT_BYTES
# Subject -> hostname, decoded once per agent: a fleet has a bounded number of
# agents (the cache is reset past this).
_HOSTS_CACHED = 100_000
_hosts: dict[str | bytes, str] = {}
# In units of the configured batch: the most one pull request asks for and one
# write takes (a Redis pipeline that long keeps other clients' waits short),
# and the most events pulled but not yet acked (so a request fills while a
# write is under way).
CHUNK_BATCHES = 4
IN_FLIGHT_BATCHES = 16
WRITES_IN_FLIGHT = 2
RECONNECT_CHECK = 1.0  # seconds between looks at the connection's reconnect count
# JetStream acknowledgements: an empty payload acks.
ACK = b""
TERM = b"+TERM"
NAK_LATER = b'-NAK {"delay":1000000000}'  # retried in 1 s, not at once


# Only the controller writes these, straight to Redis; on the bus they are forged.
_CONTROLLER_KINDS = frozenset({"submitted", "timeout", "batch_started"})


def hostname_of(subject: str | bytes) -> str:
    """The agent a subject belongs to; "" (nobody) for an undecodable one."""
    host = _hosts.get(subject)
    if host is None:
        if len(_hosts) >= _HOSTS_CACHED:
            _hosts.clear()
        try:
            text = subject.decode() if isinstance(subject, bytes) else subject
            host = subjects.hostname_of_subject(text)
        except (ValueError, UnicodeDecodeError):
            # A bad token must not take the collector down: the event is
            # then nobody's, and rejected as sent on another's subject.
            host = ""
        _hosts[subject] = host
    return host


def forged(event: Event) -> bool:
    """An event an agent could only send to pass for another agent or the controller.

    Ids are first-copy-wins, so an agent choosing another's id could
    suppress that agent's real answer.
    """
    kind = event_kind(event)
    return (
        event.attempt < 1
        or kind in _CONTROLLER_KINDS
        or event.event_id != event_id(event.job_id, event.hostname, event.attempt, kind)
    )


def _reject(
    rejected: Counter[str], reason: str, subject: bytes, detail: str, job: str = ""
) -> None:
    rejected[reason] += 1
    where = subject.decode(errors="replace")
    if job:
        log.warning("message_rejected", subject=where, job_id=job, reason=detail)
    else:
        log.warning("message_rejected", subject=where, reason=detail)


def _oldest_age(grouped: Grouped, now: float) -> float:
    oldest = min((e.timestamp for events in grouped.values() for e, _ in events), default=now)
    return max(now - oldest, 0.0)


def decode_batch(
    batch: list[Delivery], rejected: Counter[str]
) -> tuple[Grouped, list[str], list[str]]:
    """Split a batch into events grouped by job, their ack subjects, and ack subjects to drop."""
    grouped: Grouped = {}
    good: list[str] = []
    bad: list[str] = []
    decode = EVENT_MESSAGE_DECODER.decode
    for subject, reply, data in batch:
        if len(data) > MAX_EVENT_BYTES:
            _reject(rejected, "oversized", subject, "oversized event")
            bad.append(reply)
            continue
        try:
            decoded = decode(data)
        except Exception as exc:  # noqa: BLE001 - anything undecodable is dropped, not fatal
            _reject(rejected, "malformed", subject, str(exc)[:200])
            bad.append(reply)
            continue
        # A message holds one event, or several sent together (agent/events.py),
        # each stored as its own encoding: the read path decodes events one by one.
        if isinstance(decoded, list):
            events = [(event, ENCODER.encode(event)) for event in decoded]
        else:
            events = [(decoded, data)]
        if not events:
            _reject(rejected, "malformed", subject, "a message with no event")
            bad.append(reply)
            continue
        # One bad event condemns its message: it is acked (or not) as a whole.
        if _refused(subject, events, rejected):
            bad.append(reply)
            continue
        for event, blob in events:
            group = grouped.get(event.job_id)
            if group is None:
                grouped[event.job_id] = [(event, blob)]
            else:
                group.append((event, blob))
        good.append(reply)
    return grouped, good, bad


def _refused(subject: bytes, events: list[tuple[Event, bytes]], rejected: Counter[str]) -> bool:
    """Whether one message's events are rejected (then logged and counted)."""
    host = hostname_of(subject)
    for event, _ in events:
        if host != event.hostname:
            detail = f"event for {event.hostname!r} sent on another agent's subject"
            _reject(rejected, "wrong_agent", subject, detail, event.job_id)
            return True
        if forged(event):
            detail = f"{event_kind(event)} event with id {event.event_id!r} is not the agent's"
            _reject(rejected, "forged", subject, detail, event.job_id)
            return True
    return False


class Collector:
    def __init__(
        self,
        nc: NATS,
        store: JobStore,
        batch: int = 256,
        clock: Callable[[], float] = time.time,
        stream: str = subjects.EVENTS_STREAM,
        consumer: str = subjects.COLLECTOR_CONSUMER,
        feed: ChangeFeed | None = None,
        metrics: ControllerMetrics | None = None,
        reader: DetailReader | None = None,
    ) -> None:
        """``feed``: where to tell watchers which jobs a batch changed; ``reader``: the
        API's, to render the details of the jobs waited for here."""
        self.nc = nc
        self.feed = feed
        self.reader = reader
        self.metrics = metrics
        self.fold_lag = 0.0  # age of the oldest event in the last batch written
        self.stream = stream
        self.consumer = consumer
        self.store = store
        self.clock = clock
        self.rejected: Counter[str] = Counter()
        self.folded = 0
        self.finished = 0
        self.chunk = batch * CHUNK_BATCHES
        self.puller = EventPuller(
            nc, stream, consumer, self._bind, self.chunk, batch * IN_FLIGHT_BATCHES
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Fold until ``stop`` is set; events in hand are written and acked first.

        A batch is whatever has arrived, taken as soon as there is anything
        and a write slot is free: no wait for a batch to fill. Up to
        ``WRITES_IN_FLIGHT`` batches are written at once, each acked after its
        own write, so an agent's terminal event need not wait for the write of
        its progress events (the apply script is order-insensitive, as it must
        be for controllers sharing the consumer anyway), and under load the
        loop waits for Redis and for NATS at the same time.
        """
        puller = self.puller
        pulling = asyncio.create_task(puller.run())
        watching = asyncio.create_task(self._watch(stop))
        writing: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                await puller.arrived.wait()
                await _settle(writing, WRITES_IN_FLIGHT - 1)  # meanwhile more arrive
                batch = puller.take(self.chunk)
                if batch:
                    writing.add(asyncio.create_task(self._write(batch)))
        finally:
            watching.cancel()
            pulling.cancel()
            await asyncio.gather(watching, pulling, return_exceptions=True)
            await _settle(writing, 0)
            while puller.buffer:  # arrived before the pull loop stopped: not left to ack_wait
                await self._write(puller.take(self.chunk))

    async def _watch(self, stop: asyncio.Event) -> None:
        """Wake the loop on ``stop``; poke the pull loop after a reconnect.

        A standing request can die with the connection without an answer
        (nats-io/nats.py#504): the pull loop asks afresh on a new reply
        subject once poked, rather than after the request's expiry.
        """
        seen = self.nc.stats["reconnects"]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECONNECT_CHECK):
                    await stop.wait()
            if self.nc.stats["reconnects"] != seen:
                seen = self.nc.stats["reconnects"]
                self.puller.poke()
        self.puller.arrived.set()

    async def _bind(self) -> None:
        # The consumer is the controllers' shared one, made by ensure_streams;
        # a rebind only checks it is there (an error status otherwise).
        await self.nc.jetstream().consumer_info(self.stream, self.consumer)

    async def _write(self, batch: list[Delivery]) -> None:
        try:
            await self.handle(batch)
        finally:
            self.puller.release(len(batch))

    async def handle(self, batch: list[Delivery]) -> None:
        grouped, good, bad = decode_batch(batch, self.rejected)
        await self._answer(bad, TERM)
        try:
            outcomes, moved, snapshots = await self.store.apply_events(
                grouped, self._waited(grouped)
            )
            changed = {job_id: await self._settle(job_id, o) for job_id, o in outcomes.items()}
            if self.metrics is not None:
                self.metrics.count_skipped(grouped, outcomes)
            self.fold_lag = _oldest_age(grouped, self.clock())
            if self.feed is not None:
                # The records are written: a waiter here reads its answer while the
                # listing is re-filed and the events acked.
                told = {job: status for job, status in changed.items() if status}
                operations = {job: outcomes[job].operation for job in told}
                await self.feed.publish(told, operations, self._details(told, snapshots))
            await self.store.refile(moved)
        except Exception as exc:  # noqa: BLE001 - no ack: JetStream redelivers the batch
            log.warning("events_store_failed", error=str(exc), events=len(good))
            await self._answer(good, NAK_LATER)
            return
        if await self._answer(good, ACK):
            self.folded += len(good)

    def _waited(self, job_ids: Iterable[str]) -> list[str]:
        """The jobs to read back with the batch: those waited for here."""
        if self.feed is None or self.reader is None:  # (a reader with nothing cached is falsy)
            return []
        return self.feed.waited(job_ids)

    def _details(self, told: dict[str, str], snapshots: dict[str, list[Any]]) -> dict[str, bytes]:
        """The details of the waited jobs read back final, in the status the change
        names (a job finalized after the read is not: its waiter reads it itself)."""
        details: dict[str, bytes] = {}
        if self.reader is None:
            return details
        for job_id, snapshot in snapshots.items():
            if told.get(job_id) not in FINAL_STATUSES:
                continue
            try:
                found = self.reader.from_snapshot(job_id, snapshot)
            except Exception as exc:  # noqa: BLE001 - the batch is stored: never undo its ack
                log.warning("detail_not_rendered", job_id=job_id, error=str(exc))
                continue
            if found is not None and found[0] == told[job_id]:
                details[job_id] = found[1]
        return details

    async def _settle(self, job_id: str, outcome: Applied) -> str | None:
        """Count what a batch did to one job, finalize it if the script could not;
        its status if the batch changed its record, or found it final already."""
        if outcome.rejected:
            # Stored nowhere: the record only takes the agents the job asked.
            self.rejected["not_asked"] += outcome.rejected
            log.warning(
                "message_rejected", job_id=job_id, reason="from an agent the job did not ask"
            )
        if outcome.started and self.metrics is not None:
            self.metrics.first_answer.labels(outcome.operation).observe(
                max(self.clock() - outcome.created, 0.0)
            )
        if outcome.finished:
            self.finished += 1
            self._finished(outcome.status, outcome)
            log.debug("job_finished", job_id=job_id, status=outcome.status)
        elif outcome.unknown:
            self.rejected["unknown_job"] += 1
            log.warning("message_rejected", job_id=job_id, reason="unknown job")
            return None
        elif outcome.ready_to_finalize:
            status = await finalize(self.store, job_id, self.clock(), deadline_passed=False)
            self.finished += 1
            if status is not None:
                self._finished(status, outcome)
            log.debug("job_finished", job_id=job_id, status=status)
            return status
        # A final job whose events were all stored before: a batch redelivered after
        # its first pass failed, perhaps before it told the job's waiters. Told again.
        again = outcome.status in FINAL_STATUSES and not outcome.new_events
        return outcome.status if outcome.new_events or outcome.finished or again else None

    def _finished(self, status: str, outcome: Applied) -> None:
        if self.metrics is not None:
            self.metrics.job_finished(status, outcome.operation, outcome.created)

    async def _answer(self, replies: list[str], payload: bytes) -> bool:
        """Ack, nak or terminate: a plain publish to each message's ack subject."""
        publish = self.nc.publish
        try:
            for reply in replies:
                await publish(reply, payload)
        except Exception as exc:  # noqa: BLE001 - unanswered messages come back after ack_wait
            log.warning("events_answer_failed", error=str(exc) or type(exc).__name__)
            return False
        return True


async def _settle(writing: set[asyncio.Task[None]], most: int) -> None:
    """Reap finished writes (raising what they raised); wait until at most ``most`` remain."""
    while True:
        for task in [task for task in writing if task.done()]:
            writing.discard(task)
            task.result()
        if len(writing) <= most:
            return
        await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
