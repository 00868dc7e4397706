"""The per-message pipeline: verify, acknowledge, run, report, ack. I/O: NATS.

For one delivered job message:

1. decode and verify the signature (refused: terminated, counted, no event);
2. check the job is addressed to this agent and not expired;
3. emit ``retried`` on a redelivery, then ``acknowledged`` and ``started``;
4. run the operation (executor) while telling JetStream it is in progress;
5. emit ``completed`` or ``failed`` and wait until JetStream stored it;
6. only then ack the job message. A crash before step 6 means redelivery.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.aio.msg import Msg

from agent.events import EventPublisher
from agent.executor import run_operation
from agent.operations.base import OperationContext, OperationFailed
from common.messages import (
    JOB_SPEC_DECODER,
    SIGNED_JOB_DECODER,
    Acknowledged,
    Completed,
    Event,
    Failed,
    JobSpec,
    Retried,
    Started,
    event_id,
)
from common.signing import SignatureError, Verifier
from common.targets import TargetError, parse_target

log = structlog.get_logger("corral.agent")
IN_PROGRESS_EVERY = 10.0  # well under the consumers' 30 s ack wait


class Refused(Exception):
    """A job this agent will not run; ``reason`` is the counter's label."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(details)
        self.reason = reason


@dataclass
class Runtime:
    hostname: str
    labels: dict[str, str]
    allowed: frozenset[str]
    verifier: Verifier
    publisher: EventPublisher
    max_output_bytes: int = 64 * 1024
    clock: Callable[[], float] = time.time
    refused: Counter[str] = field(default_factory=Counter)
    completed: int = 0

    def verify(self, data: bytes) -> JobSpec:
        try:
            signed = SIGNED_JOB_DECODER.decode(data)
        except Exception as exc:  # noqa: BLE001 - undecodable input is refused, not fatal
            raise Refused("malformed", f"job message does not decode: {exc}") from None
        try:
            payload = self.verifier.verify(signed)
        except SignatureError as exc:
            raise Refused("bad_signature", str(exc)) from None
        try:
            spec = JOB_SPEC_DECODER.decode(payload)
            target = parse_target(spec.target)
        except (TargetError, ValueError) as exc:
            raise Refused("malformed", f"signed job does not decode: {exc}") from None
        if not target.matches(self.hostname, self.labels):
            raise Refused("not_addressed", f"job for {spec.target} is not for {self.hostname}")
        return spec

    def event(self, spec: JobSpec, kind: type[Event], attempt: int, **fields: Any) -> Event:
        return kind(
            event_id=event_id(spec.job_id, self.hostname, attempt, kind.__struct_config__.tag),  # type: ignore[arg-type]
            job_id=spec.job_id,
            hostname=self.hostname,
            timestamp=self.clock(),
            attempt=attempt,
            **fields,
        )

    async def handle(self, msg: Msg) -> None:
        try:
            spec = self.verify(msg.data)
        except Refused as exc:
            self.refused[exc.reason] += 1
            log.warning("job_refused", reason=exc.reason, details=str(exc))
            await msg.term()
            return
        attempt = msg.metadata.num_delivered or 1
        with structlog.contextvars.bound_contextvars(
            job_id=spec.job_id, operation=spec.operation.type
        ):
            terminal = await self.execute(spec, attempt)
            if await self.publisher.store(terminal):
                await msg.ack()
                self.completed += 1
            else:
                log.error("terminal_event_not_stored", event=terminal.event_id)

    async def execute(self, spec: JobSpec, attempt: int) -> Event:
        remaining = spec.deadline - self.clock()
        if remaining <= 0:
            self.refused["expired"] += 1
            return self.event(
                spec,
                Failed,
                attempt,
                error=f"job expired {-remaining:.1f}s before this agent ran it",
            )
        if attempt > 1:
            await self.publisher.send(
                self.event(spec, Retried, attempt, message=f"delivery attempt {attempt}")
            )
        await self.publisher.send(self.event(spec, Acknowledged, attempt))
        await self.publisher.send(self.event(spec, Started, attempt))
        context = OperationContext(
            hostname=self.hostname,
            timeout=min(spec.timeout, remaining),
            max_output_bytes=self.max_output_bytes,
        )
        started = time.monotonic()
        try:
            result = await run_operation(
                spec.operation.type, spec.operation.data, context, self.allowed
            )
        except OperationFailed as exc:
            log.info("job_failed", error=exc.message)
            return self.event(
                spec, Failed, attempt, error=exc.message, duration=time.monotonic() - started
            )
        log.info("job_completed", changed=result.changed)
        return self.event(
            spec,
            Completed,
            attempt,
            result=result.data,
            changed=result.changed,
            duration=time.monotonic() - started,
        )


async def keep_in_progress(msg: Msg) -> None:
    """Reset the ack timer while a long operation runs, so it is not redelivered."""
    while True:
        await asyncio.sleep(IN_PROGRESS_EVERY)
        try:
            await msg.in_progress()
        except Exception as exc:  # noqa: BLE001 - best effort; redelivery is the fallback
            log.warning("in_progress_failed", error=str(exc))
