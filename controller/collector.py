"""Events -> store: fetch in batches, group by job, one pipeline, then ack. I/O: NATS, Redis.

An event is acked only after its batch is written, so a controller that dies
mid-batch loses nothing: JetStream redelivers and the store's first-copy-wins
write makes the replay harmless. The apply script gives a job its final
status in the call that stores its last expected answer, so a batch costs
two round trips (the scripts, then the listing index) however many jobs it
finishes; only a job the script could not decide is finalized here.

Messages that do not decode, or that claim to come from an agent other than
the one whose subject they were sent on, are logged (``message_rejected``),
terminated and never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from common import limits, subjects
from common.messages import EVENT_DECODER, Event, event_id, event_kind
from controller.store import JobStore

log = structlog.get_logger("corral.collector")

Grouped = dict[str, list[tuple[Event, bytes]]]
# Far above any honest event (agents cap stdout and stderr at max_output_bytes,
# 64 KiB each by default), far below NATS's 1 MiB max_payload.
MAX_EVENT_BYTES = limits.MAX_EVENT_BYTES
# Subject -> hostname: decoding the token is a Python loop per character,
# and a fleet has a bounded number of agents (the cache is reset past this).
_HOSTS_CACHED = 100_000
_hosts: dict[str, str] = {}


# Only the controller writes these, straight to Redis; on the bus they are forged.
_CONTROLLER_KINDS = frozenset({"submitted", "timeout"})


def hostname_of(subject: str) -> str:
    """The agent a subject belongs to; "" (nobody) for an undecodable one."""
    host = _hosts.get(subject)
    if host is None:
        if len(_hosts) >= _HOSTS_CACHED:
            _hosts.clear()
        try:
            host = subjects.hostname_of_subject(subject)
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


def decode_batch(msgs: list[Msg], rejected: Counter[str]) -> tuple[Grouped, list[Msg], list[Msg]]:
    """Split a batch into events grouped by job, their messages, and messages to drop."""
    grouped: Grouped = {}
    good: list[Msg] = []
    bad: list[Msg] = []
    decode = EVENT_DECODER.decode
    for msg in msgs:
        data = msg.data
        if len(data) > MAX_EVENT_BYTES:
            rejected["oversized"] += 1
            log.warning("message_rejected", subject=msg.subject, reason="oversized event")
            bad.append(msg)
            continue
        try:
            event = decode(data)
        except Exception as exc:  # noqa: BLE001 - anything undecodable is dropped, not fatal
            rejected["malformed"] += 1
            log.warning("message_rejected", subject=msg.subject, reason=str(exc)[:200])
            bad.append(msg)
            continue
        if hostname_of(msg.subject) != event.hostname:
            rejected["wrong_agent"] += 1
            log.warning(
                "message_rejected",
                subject=msg.subject,
                job_id=event.job_id,
                reason=f"event for {event.hostname!r} sent on another agent's subject",
            )
            bad.append(msg)
            continue
        if forged(event):
            rejected["forged"] += 1
            log.warning(
                "message_rejected",
                subject=msg.subject,
                job_id=event.job_id,
                reason=f"{event_kind(event)} event with id {event.event_id!r} is not the agent's",
            )
            bad.append(msg)
            continue
        group = grouped.get(event.job_id)
        if group is None:
            grouped[event.job_id] = [(event, data)]
        else:
            group.append((event, data))
        good.append(msg)
    return grouped, good, bad


class Collector:
    def __init__(
        self,
        js: JetStreamContext,
        store: JobStore,
        batch: int = 256,
        clock: Callable[[], float] = time.time,
        reconnects: Callable[[], int] = lambda: 0,
    ) -> None:
        self.js = js
        self.store = store
        self.batch = batch
        self.clock = clock
        self.reconnects = reconnects
        self.rejected: Counter[str] = Counter()
        self.folded = 0
        self.finished = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Fold until ``stop`` is set; a batch in hand is finished first.

        One batch is written while the next one is fetched, so the loop waits
        for Redis and for NATS at the same time rather than in turn (at most
        one write in flight: acks stay after their own batch's write).
        """
        writing: asyncio.Task[None] | None = None
        try:
            sub = await self._bind()
            seen = self.reconnects()
            while not stop.is_set():
                if self.reconnects() != seen:
                    # A pull subscription can stay silent after a reconnect
                    # (nats-io/nats.py#504): bind a fresh one each time.
                    try:
                        fresh = await self._bind()
                    except Exception as exc:  # noqa: BLE001 - JetStream not back yet: retry
                        log.warning("events_rebind_failed", error=str(exc))
                        await asyncio.sleep(0.5)
                        continue
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub, seen = fresh, self.reconnects()
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except Exception as exc:  # noqa: BLE001 - broker hiccup: retry, never die
                    log.warning("events_fetch_failed", error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self.handle(msgs))
        finally:
            if writing is not None:
                await writing

    async def _bind(self) -> JetStreamContext.PullSubscription:
        return await self.js.pull_subscribe_bind(
            subjects.COLLECTOR_CONSUMER, stream=subjects.EVENTS_STREAM
        )

    async def handle(self, msgs: list[Msg]) -> None:
        grouped, good, bad = decode_batch(msgs, self.rejected)
        for msg in bad:
            await msg.term()
        try:
            outcomes = await self.store.apply(grouped)
            for job_id, outcome in outcomes.items():
                if outcome.finished:
                    # Per job at debug: at info this line was a visible share of the fold.
                    self.finished += 1
                    log.debug("job_finished", job_id=job_id, status=outcome.status)
                elif outcome.unknown:
                    self.rejected["unknown_job"] += 1
                    log.warning("message_rejected", job_id=job_id, reason="unknown job")
                elif outcome.ready_to_finalize:
                    status = await self.store.finalize(job_id, self.clock(), deadline_passed=False)
                    self.finished += 1
                    log.debug("job_finished", job_id=job_id, status=status)
        except Exception as exc:  # noqa: BLE001 - no ack: JetStream redelivers the batch
            log.warning("events_store_failed", error=str(exc), events=len(good))
            for msg in good:
                await msg.nak(delay=1.0)
            return
        for msg in good:
            await msg.ack()
        self.folded += len(good)
