"""Publishing job events to JetStream. I/O: NATS.

Each event goes to the agent's own subject ``corral.event.<host>`` with
``Nats-Msg-Id = event id``, so a re-sent event is stored once. Progress
events (acknowledged, started, retried) are plain publishes the stream
stores without acknowledging; the terminal event is awaited until JetStream
confirms it is stored, because the job message is acked only after that.
"""

from __future__ import annotations

import asyncio

import structlog
from nats.aio.client import Client as NATS

from common import subjects
from common.messages import ENCODER, Event

log = structlog.get_logger("corral.agent.events")


class EventPublisher:
    def __init__(self, nc: NATS, hostname: str) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.subject = subjects.events_of(hostname)

    async def send(self, event: Event) -> None:
        """Publish a progress event on core NATS: the stream stores it, nobody acks it.

        Best effort: the job's outcome rests on the awaited terminal event
        (:meth:`store`). Without a reply subject there is no PubAck for the
        broker to send or the agent to parse (three per job before), and no
        in-flight acknowledgement to hold for months if one were lost.
        """
        try:
            await self.nc.publish(
                self.subject, ENCODER.encode(event), headers={"Nats-Msg-Id": event.event_id}
            )
        except Exception as exc:  # noqa: BLE001 - disconnected, buffer full: not fatal
            log.warning("progress_event_not_sent", job_id=event.job_id, error=repr(exc))

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
