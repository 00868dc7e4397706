"""Publishing job events to JetStream. I/O: NATS.

Each event goes to the agent's own subject ``corral.event.<host>`` with
``Nats-Msg-Id = event id``, so a re-sent event is stored once. Progress
events (acknowledged, started, retried) are pipelined; the terminal event is
awaited until JetStream confirms it is stored, because the job message is
acked only after that.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.js import JetStreamContext

from common import subjects
from common.messages import ENCODER, Event

log = structlog.get_logger("corral.agent.events")

# nats-py's publish_async futures never time out: a PubAck lost to a dropped
# connection or a leader election would hold one of its 4,000 in-flight
# permits forever, and months of such losses would stall the agent. Each
# progress event gives its PubAck this long, then its permit back.
PROGRESS_ACK_TIMEOUT = 30.0
# Never wait longer than this for a permit: progress events are best effort.
PROGRESS_STALL = 5.0


class EventPublisher:
    def __init__(self, js: JetStreamContext, hostname: str) -> None:
        self.js = js
        self.subject = subjects.events_of(hostname)

    async def send(self, event: Event) -> None:
        """Pipeline a progress event; JetStream's answer is not awaited.

        Best effort: the job's outcome rests on the awaited terminal event
        (:meth:`store`), so a progress event that cannot go out is logged, and
        the job goes on.
        """
        try:
            ack = await self.js.publish_async(
                self.subject,
                ENCODER.encode(event),
                wait_stall=PROGRESS_STALL,
                headers={"Nats-Msg-Id": event.event_id},
            )
        except Exception as exc:  # noqa: BLE001 - disconnected, stalled: not fatal
            log.warning("progress_event_not_sent", job_id=event.job_id, error=repr(exc))
            return
        expiry = asyncio.get_running_loop().call_later(PROGRESS_ACK_TIMEOUT, ack.cancel)
        ack.add_done_callback(lambda done: _settled(done, expiry))

    async def store(self, event: Event, attempts: int = 5) -> bool:
        """Publish and wait until JetStream stored the event; retry with backoff."""
        payload = ENCODER.encode(event)
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                await self.js.publish(
                    self.subject, payload, timeout=5.0, headers={"Nats-Msg-Id": event.event_id}
                )
                return True
            except Exception as exc:  # noqa: BLE001 - any broker failure: back off and retry
                log.warning(
                    "event_publish_failed",
                    job_id=event.job_id,
                    attempt=attempt,
                    error=str(exc) or type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return False


def _settled(ack: asyncio.Future[Any], expiry: asyncio.TimerHandle) -> None:
    """Drop the expiry timer, and read the outcome so asyncio never logs it as lost."""
    expiry.cancel()
    if not ack.cancelled() and (exc := ack.exception()) is not None:
        log.debug("progress_event_not_stored", error=repr(exc))
