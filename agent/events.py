"""Publishing job events to JetStream. I/O: NATS.

Each message goes to the agent's own subject ``corral.event.<host>`` with
``Nats-Msg-Id`` = the id of its last event, so a re-sent message is stored
once. Progress events (retried, acknowledged, started) are plain publishes
the stream stores without acknowledging; the terminal event is awaited until
JetStream confirms it is stored, because the job message is acked only after
that.

Progress events are held for :data:`PROGRESS_HOLD` before they go out. A job
that ends by then (most reads end in well under a millisecond) sends them in
one message with its terminal event: one stored message, one PubAck and one
collector delivery instead of three, for the same events, which the fold
counts one by one. A longer job sends them on their own when the hold ends,
so its progress shows as before, at most that much later.

A stream whose leader is being elected (a NATS cluster node died or
restarts) answers "no response from stream" or nothing for a few seconds:
the terminal event is retried for :data:`STORE_WITHIN` (past any election),
at most :data:`RETRY_DELAY_MAX` apart, while the job message's ack timer is
kept fresh, so the answer lands well within a job's deadline instead of
waiting for a redelivery.

A terminal event over :data:`common.limits.MAX_EVENT_BYTES` (a huge result)
would be dropped by the collector and the job would end ``timeout``; the
agent sends a ``failed`` "result too large" in its place (same attempt and
timestamp, so a re-sent copy is the same event).
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import structlog
from nats.aio.client import Client as NATS

from common import subjects
from common.limits import HEADERS_ROOM, MAX_EVENT_BYTES
from common.messages import ENCODER, Completed, Event, Failed, event_id, event_kind

log = structlog.get_logger("corral.agent.events")
# Long enough for a quick operation to end, short enough not to be noticed on a
# progress display.
PROGRESS_HOLD = 0.05
# A leader election takes a few seconds, more on a loaded node: keep trying
# this long, and never sleep so long between tries that its end goes unnoticed.
STORE_WITHIN = 20.0
RETRY_DELAY_MAX = 1.0


class EventPublisher:
    def __init__(self, nc: NATS, hostname: str, hold: float = PROGRESS_HOLD) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.subject = subjects.events_of(hostname)
        self.hold_for = hold
        # Job id -> its progress events not sent yet, and the timer that sends them.
        self._held: dict[str, tuple[list[Event], asyncio.TimerHandle]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def hold(self, events: list[Event]) -> None:
        """Progress events of one job: sent with its terminal event if it ends soon, else alone."""
        if not events:
            return
        job_id = events[0].job_id
        timer = asyncio.get_running_loop().call_later(self.hold_for, self._release, job_id)
        self._held[job_id] = (events, timer)

    def _release(self, job_id: str) -> None:
        held = self._held.pop(job_id, None)
        if held is not None:
            task = asyncio.create_task(self.send_many(held[0]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def take(self, job_id: str) -> list[Event]:
        """The progress events still held for ``job_id`` (their timer stopped)."""
        held = self._held.pop(job_id, None)
        if held is None:
            return []
        held[1].cancel()
        return held[0]

    async def send_many(self, events: list[Event]) -> None:
        """Publish progress events of one job in one message on core NATS.

        The stream stores it; nobody acks it. Best effort: the job's outcome
        rests on the awaited terminal event (:meth:`store`). Without a reply
        subject there is no PubAck for the broker to send or the agent to
        parse, and no in-flight acknowledgement to hold for months if one were
        lost.
        """
        payload = ENCODER.encode(events[0] if len(events) == 1 else events)
        try:
            await self.nc.publish(
                self.subject, payload, headers={"Nats-Msg-Id": events[-1].event_id}
            )
        except Exception as exc:  # noqa: BLE001 - disconnected, buffer full: not fatal
            log.warning("progress_event_not_sent", job_id=events[0].job_id, error=repr(exc))

    async def store(self, event: Event, attempts: int = 5) -> bool:
        """Publish and wait until JetStream stored the event; retry with backoff.

        Tries at least ``attempts`` times and for at least :data:`STORE_WITHIN`
        seconds (``Nats-Msg-Id`` stores a re-sent copy once).

        An event too large to be stored or folded is replaced by a ``failed``
        one that says so; a refusal for size is never retried as it is.
        The job's held progress events go in the same message when they fit.
        """
        progress = self.take(event.job_id)
        payload = ENCODER.encode([*progress, event]) if progress else b""
        if len(payload) > MAX_EVENT_BYTES:  # then the terminal event goes alone
            await self.send_many(progress)
            progress = []
        if not progress:
            event, payload = fit(event)
        shrunk = False
        delay = 0.1
        attempt = 0
        give_up = time.monotonic() + STORE_WITHIN
        while attempt < attempts or time.monotonic() < give_up:
            try:
                await self.js.publish(
                    self.subject, payload, timeout=5.0, headers={"Nats-Msg-Id": event.event_id}
                )
                return True
            except nats.errors.MaxPayloadError:
                if progress:  # the terminal event may fit alone
                    await self.send_many(progress)
                    progress = []
                    event, payload = fit(event)
                    continue
                # The server's max_payload is below MAX_EVENT_BYTES: send what it takes,
                # once, and use no attempt (no broker failure to wait out).
                smaller, payload = fit(event, self.nc.max_payload - HEADERS_ROOM)
                if shrunk or smaller is event:
                    log.error("event_too_large", job_id=event.job_id, size=len(payload))
                    return False
                event, shrunk = smaller, True
            except Exception as exc:  # noqa: BLE001 - any broker failure: back off and retry
                attempt += 1
                log.warning(
                    "event_publish_failed",
                    job_id=event.job_id,
                    attempt=attempt,
                    error=str(exc) or type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY_MAX)
        return False


def fit(event: Event, limit: int = MAX_EVENT_BYTES) -> tuple[Event, bytes]:
    """The event and its encoding, or a ``failed`` "result too large" if over ``limit``."""
    payload = ENCODER.encode(event)
    if len(payload) <= limit:
        return event, payload
    log.warning("result_too_large", job_id=event.job_id, size=len(payload), limit=limit)
    failed = too_large(event, len(payload), limit)
    return failed, ENCODER.encode(failed)


def too_large(event: Event, size: int, limit: int) -> Failed:
    """What the agent reports instead of an event nobody could store."""
    if isinstance(event, Completed):
        ran = "completed" + (" and changed the system" if event.changed else " without changes")
    else:
        ran = "ended " + event_kind(event)
    return Failed(
        event_id=event_id(event.job_id, event.hostname, event.attempt, "failed"),
        job_id=event.job_id,
        hostname=event.hostname,
        timestamp=event.timestamp,
        attempt=event.attempt,
        message="result too large",
        error=(
            f"result too large: {size} bytes encoded, over the {limit}-byte limit;"
            f" the operation {ran}, its output was dropped"
        ),
        duration=getattr(event, "duration", 0.0),
    )
