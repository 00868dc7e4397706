"""Publishing job events to JetStream. I/O: NATS.

Each event goes to the agent's own subject ``corral.event.<host>`` with
``Nats-Msg-Id = event id``, so a re-sent event is stored once. Progress
events (acknowledged, started, retried) are pipelined; the terminal event is
awaited until JetStream confirms it is stored, because the job message is
acked only after that.
"""

from __future__ import annotations

import asyncio

import structlog
from nats.js import JetStreamContext

from common import subjects
from common.messages import ENCODER, Event

log = structlog.get_logger("corral.agent.events")


class EventPublisher:
    def __init__(self, js: JetStreamContext, hostname: str) -> None:
        self.js = js
        self.subject = subjects.events_of(hostname)

    async def send(self, event: Event) -> None:
        """Pipeline a progress event; JetStream's answer is not awaited."""
        await self.js.publish_async(
            self.subject, ENCODER.encode(event), headers={"Nats-Msg-Id": event.event_id}
        )

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
