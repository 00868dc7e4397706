"""The per-message pipeline: verify, decide, run, journal, report, ack. I/O: NATS, journal.

For one delivered job message:

1. decode and verify the signature, the target, and that the message came
   on the subject its signed target maps to (refused: terminated, counted);
2. for an ``_any`` job, claim it (agent/claims.py): an agent that lost the
   claim acks the message and says nothing, the job is another agent's; if
   the claims bucket does not answer, the message stays unacked and comes
   back;
3. look the job up in the journal and :func:`agent.decide.decide` what to
   do: run it, re-emit its stored terminal event, or end it at once
   (outcome unknown, cancelled, gave up, expired, clock skew);
4. to run: journal ``running`` (fsynced for a side effect), emit ``retried``
   on a redelivery, ``acknowledged`` and ``started``, run the operation
   while telling JetStream it is in progress;
5. journal the terminal event, publish it and wait until JetStream stored it;
6. only then ack the job message. A crash before step 6 means redelivery,
   which step 3 turns into a re-emit or an "outcome unknown", never a
   second run of a side effect; step 2 keeps a redelivery that reaches
   another agent from running an ``_any`` job there.

Cancel requests (signed like jobs, handed over by agent/cancels.py) are
remembered in the journal and in a bounded in-memory set, and cancel the
running operation's task; the handlers kill the operation's whole process
group on cancellation.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from nats.aio.msg import Msg

from agent.claims import Claims, ClaimUnavailable
from agent.decide import CANCELLED_ERROR, Delivery, Finish, Reemit, Refuse, Run, decide
from agent.events import EventPublisher
from agent.executor import run_operation
from agent.journal import Journal, cancelled_entry
from agent.operations.base import Objects, OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from common import subjects
from common.config import DEFAULT_MAX_DELIVERIES
from common.messages import (
    CANCEL_DECODER,
    DRAIN_DECODER,
    ENCODER,
    EVENT_DECODER,
    JOB_SPEC_DECODER,
    SIGNED_JOB_DECODER,
    Acknowledged,
    Cancelled,
    Completed,
    Event,
    Failed,
    JobSpec,
    Retried,
    Skipped,
    Started,
    event_id,
    event_kind,
)
from common.operations.catalog import OPERATIONS
from common.signing import SignatureError, Verifier
from common.targets import Target, TargetError, parse_target

log = structlog.get_logger("corral.agent")
DRAINED_REASON = "agent is drained"
DRAINED_NAK_DELAY = 0.5  # seconds; lets another agent's pull take it first
IN_PROGRESS_EVERY = 10.0  # well under the consumers' 30 s ack wait
REMEMBER_CANCELLED = 10_000  # in memory; the journal keeps them longer
STORE_AGAIN_AFTER = 1.0  # between rounds of tries to store an `_any` job's answer


def answer_until(spec: JobSpec) -> float:
    """Until when this agent alone can answer for the job: an `_any` job's deadline
    (it holds the claim); 0 for others, whose redelivery comes back to it."""
    return spec.deadline if spec.target == "_any" else 0.0


class Refused(Exception):
    """A job this agent will not run; ``reason`` is the counter's label."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(details)
        self.reason = reason


@dataclass
class Active:
    """A job this process is running: its message(s) and its operation's task."""

    seq: int
    msgs: list[Msg]
    op: asyncio.Task[Any] | None = None


@dataclass
class Runtime:
    hostname: str
    labels: dict[str, str]
    allowed: frozenset[str]
    verifier: Verifier
    publisher: EventPublisher
    claims: Claims
    journal: Journal = field(default_factory=Journal)
    max_output_bytes: int = 64 * 1024
    host: Host = field(default_factory=Host)
    objects: Objects | None = None  # deploy content (agent/objects.py)
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    skew_tolerance: float = 30.0
    clock: Callable[[], float] = time.time
    refused: Counter[str] = field(default_factory=Counter)
    # (operation, terminal event kind) of the jobs this process finished: agent/metrics.py.
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    completed: int = 0
    active: dict[str, Active] = field(default_factory=dict)
    cancelled: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # No new shared work (agent/drain.py): no _any, broadcasts answered skipped.
    drained: bool = False

    def verify(self, data: bytes, subject: str) -> tuple[JobSpec, Target]:
        """The signed job and its target, if it is for this agent and came where it was sent."""
        try:
            spec = JOB_SPEC_DECODER.decode(self._verified(data))
            target = parse_target(spec.target)
        except (TargetError, ValueError) as exc:
            raise Refused("malformed", f"signed job does not decode: {exc}") from None
        if not target.matches(self.hostname, self.labels):
            raise Refused("not_addressed", f"job for {spec.target} is not for {self.hostname}")
        # A rollout's copy is signed for one agent and sent on its host subject.
        if spec.host and spec.host != self.hostname:
            raise Refused(
                "not_addressed", f"rollout copy for {spec.host} is not for {self.hostname}"
            )
        sent_on = subjects.job_for_host(spec.host) if spec.host else target.subject()
        # A signed job re-published on another subject (_all, another host's)
        # would reach agents it was never sent to.
        if subject != sent_on:
            raise Refused("not_addressed", f"job for {spec.target} arrived on {subject}")
        return spec, target

    def _verified(self, data: bytes) -> bytes:
        """The payload of a signed envelope, or :class:`Refused`."""
        try:
            signed = SIGNED_JOB_DECODER.decode(data)
        except Exception as exc:  # noqa: BLE001 - undecodable input is refused, not fatal
            raise Refused("malformed", f"message does not decode: {exc}") from None
        try:
            return self.verifier.verify(signed)
        except SignatureError as exc:
            raise Refused("bad_signature", str(exc)) from None

    def event(self, spec: JobSpec, kind: type[Event], attempt: int, **fields: Any) -> Event:
        return kind(
            event_id=event_id(spec.job_id, self.hostname, attempt, kind.__struct_config__.tag),  # type: ignore[arg-type]
            job_id=spec.job_id,
            hostname=self.hostname,
            timestamp=self.clock(),
            attempt=attempt,
            **fields,
        )

    def refuse(self, reason: str, details: str) -> None:
        self.refused[reason] += 1
        log.warning("job_refused", reason=reason, details=details)

    async def handle(self, msg: Msg) -> bool:
        """Handle one delivered job message; whether it is settled (acked or terminated)."""
        try:
            spec, target = self.verify(msg.data, msg.subject)
        except Refused as exc:
            self.refuse(exc.reason, str(exc))
            await msg.term()
            return True
        seq = msg.metadata.sequence.stream
        with structlog.contextvars.bound_contextvars(
            job_id=spec.job_id, operation=spec.operation.type
        ):
            running = self.active.get(spec.job_id)
            if running is not None and running.seq == seq:
                # Redelivered while this process still runs it (paused past the
                # ack wait): no second run; acked with the first when it ends.
                running.msgs.append(msg)
                return False
            if running is not None:
                self.refuse("replayed", "job arrived again as a new message while running")
                await msg.term()
                return True
            if target.kind == "any" and self.drained:
                # Fetched just before the drain: back to the other agents.
                await msg.nak(delay=DRAINED_NAK_DELAY)
                return True
            if target.kind == "any":
                settled = await self._unless_claimed(spec, msg)
                if settled is not None:
                    return settled
            return await self._dispatch(spec, seq, msg)

    async def _unless_claimed(self, spec: JobSpec, msg: Msg) -> bool | None:
        """None if this agent holds the `_any` job's claim; else whether the message is settled.

        Another agent's claim: acked (never redelivered), no event, the job is
        that agent's. No answer from the claims bucket: left unacked, so it
        comes back after the ack wait, to this agent or another.
        """
        try:
            won = await self.claims.claim(spec.job_id)
        except ClaimUnavailable as exc:
            log.error("claim_unavailable", error=str(exc))
            return False
        if won:
            return None
        self.refuse("claimed", "another agent holds the claim of this _any job")
        await msg.ack()
        return True

    async def _dispatch(self, spec: JobSpec, seq: int, msg: Msg) -> bool:
        op = OPERATIONS.get(spec.operation.type)
        delivery = Delivery(
            spec=spec,
            seq=seq,
            delivered=msg.metadata.num_delivered or 1,
            read_only=op.read_only if op is not None else True,
        )
        entry = await self.journal.get(spec.job_id)
        if spec.job_id in self.cancelled:
            # The journal write of a cancel may still be on its way.
            entry = replace(entry, cancelled=True) if entry else cancelled_entry(spec.job_id)
        decision = decide(
            delivery,
            entry,
            self.clock(),
            max_deliveries=self.max_deliveries,
            skew_tolerance=self.skew_tolerance,
        )
        if isinstance(decision, Refuse):
            self.refuse(decision.reason, decision.details)
            await msg.term()
            return True
        if isinstance(decision, Reemit):
            if decision.refusal:
                self.refuse(decision.refusal, "known job arrived again; stored outcome re-sent")
            stored = EVENT_DECODER.decode(decision.event)
            return await self.conclude(stored, [msg], keep_until=answer_until(spec))
        if isinstance(decision, Finish):
            if decision.refusal:
                self.refuse(decision.refusal, decision.error)
            return await self.finish(spec, seq, self._finish_event(spec, decision), [msg])
        return await self.run(spec, seq, decision, msg, durable=not delivery.read_only)

    def _finish_event(self, spec: JobSpec, decision: Finish) -> Event:
        kind: type[Event] = Cancelled if decision.kind == "cancelled" else Failed
        return self.event(spec, kind, decision.attempt, error=decision.error)

    async def finish(
        self, spec: JobSpec, seq: int, terminal: Event, msgs: list[Msg], *, durable: bool = True
    ) -> bool:
        """Journal the terminal event (awaited if ``durable``), then publish it and ack."""
        self.outcomes[spec.operation.type, event_kind(terminal)] += 1
        blob = ENCODER.encode(terminal)
        await self.journal.finish(spec.job_id, seq, terminal.attempt, blob, durable=durable)
        return await self.conclude(terminal, msgs, keep_until=answer_until(spec))

    async def conclude(self, terminal: Event, msgs: list[Msg], *, keep_until: float = 0.0) -> bool:
        """Ack the job message(s) only once JetStream stored the terminal event; acked?

        Not stored: the message stays unacked and its redelivery re-sends the
        journaled event, unless ``keep_until`` (an `_any` job's deadline) is
        still ahead: then the redelivery may go to an agent that lost the
        claim, which stays silent, so this agent tries again until then.
        """
        while not await self.publisher.store(terminal):
            log.error("terminal_event_not_stored", event_id=terminal.event_id)
            if self.clock() >= keep_until:
                return False
            await asyncio.sleep(STORE_AGAIN_AFTER)
        for msg in msgs:
            await msg.ack()
        self.completed += 1
        return True

    async def run(self, spec: JobSpec, seq: int, decision: Run, msg: Msg, *, durable: bool) -> bool:
        attempt = decision.attempt
        active = Active(seq=seq, msgs=[msg])
        self.active[spec.job_id] = active
        try:
            await self.journal.begin(spec.job_id, seq, attempt, durable=durable)
            progress: list[Event] = []
            if decision.retried:
                message = f"delivery attempt {attempt}"
                progress.append(self.event(spec, Retried, attempt, message=message))
            progress.append(self.event(spec, Acknowledged, attempt))
            progress.append(self.event(spec, Started, attempt))
            # Sent with the terminal event if the operation ends soon (agent/events.py).
            self.publisher.hold(progress)
            terminal = await self.operate(spec, attempt, active)
            return await self.finish(spec, seq, terminal, active.msgs, durable=durable)
        finally:
            del self.active[spec.job_id]

    async def operate(self, spec: JobSpec, attempt: int, active: Active) -> Event:
        """Run the operation in its own task, so a cancel request can stop it."""
        context = OperationContext(
            hostname=self.hostname,
            timeout=max(min(spec.timeout, spec.deadline - self.clock()), 0.001),
            max_output_bytes=self.max_output_bytes,
            job_id=spec.job_id,
            dry_run=spec.dry_run,
            host=self.host,
            objects=self.objects,
        )
        started = time.monotonic()
        if spec.job_id in self.cancelled:
            return self.event(spec, Cancelled, attempt, error=CANCELLED_ERROR)
        if self.drained and parse_target(spec.target).is_broadcast:
            return self.event(spec, Skipped, attempt, error=DRAINED_REASON)
        active.op = asyncio.create_task(
            run_operation(spec.operation.type, spec.operation.data, context, self.allowed)
        )
        try:
            result = await active.op
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if active.op.cancelled() and (current is None or not current.cancelling()):
                log.info("job_cancelled")
                return self.event(
                    spec, Cancelled, attempt, error=CANCELLED_ERROR, message="operation stopped"
                )
            raise
        except OperationFailed as exc:
            log.info("job_failed", error=exc.message)
            duration = time.monotonic() - started
            return self.event(spec, Failed, attempt, error=exc.message, duration=duration)
        except OperationSkipped as exc:
            log.info("job_skipped", reason=exc.reason)
            duration = time.monotonic() - started
            return self.event(spec, Skipped, attempt, error=exc.reason, duration=duration)
        log.info("job_completed", changed=result.changed)
        return self.event(
            spec,
            Completed,
            attempt,
            result=result.data,
            changed=result.changed,
            duration=time.monotonic() - started,
        )

    def cancel_request(self, data: bytes) -> str | None:
        """The job id of a verified cancel request; None (counted) if refused."""
        try:
            request = CANCEL_DECODER.decode(self._verified(data))
        except Refused as exc:
            self.refuse(exc.reason, f"cancel request: {exc}")
            return None
        except ValueError as exc:
            self.refuse("malformed", f"cancel request does not decode: {exc}")
            return None
        return request.job_id

    def drain_request(self, data: bytes) -> bool | None:
        """Whether a verified drain request for this agent drains it; None (counted) if refused."""
        try:
            request = DRAIN_DECODER.decode(self._verified(data))
        except Refused as exc:
            self.refuse(exc.reason, f"drain request: {exc}")
            return None
        except ValueError as exc:
            self.refuse("malformed", f"drain request does not decode: {exc}")
            return None
        if request.hostname != self.hostname:
            self.refuse("not_addressed", f"drain request for {request.hostname}")
            return None
        return request.drained

    def remember_cancel(self, job_id: str) -> None:
        """In memory first and synchronously: a job about to start checks this set.

        Runtimes that share the set (a swarm's) remember once (agent/cancels.py).
        """
        self.cancelled[job_id] = None
        while len(self.cancelled) > REMEMBER_CANCELLED:
            self.cancelled.popitem(last=False)

    async def cancel_job(self, job_id: str) -> None:
        """Stop the job's running operation, if any, and journal the cancel."""
        running = self.active.get(job_id)
        if running is not None and running.op is not None:
            log.info("cancel_requested", job_id=job_id)
            running.op.cancel()
        await self.journal.cancel(job_id)


class InProgress:
    """Resets a job message's ack timer every ``every`` seconds until stopped.

    A timer rather than a task per job: almost every job ends before the
    first reset is due, and a task created and cancelled for each of them was
    most of what this cost. The loop that sends resets starts only then.
    """

    def __init__(self, msg: Msg, every: float = IN_PROGRESS_EVERY) -> None:
        self._msg = msg
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            every, self._start
        )

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.create_task(keep_in_progress(self._msg, self._every))

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


async def keep_in_progress(msg: Msg, every: float = IN_PROGRESS_EVERY) -> None:
    """Reset the ack timer now and then every ``every`` seconds, until cancelled."""
    while True:
        try:
            await msg.in_progress()
        except Exception as exc:  # noqa: BLE001 - best effort; redelivery is the fallback
            log.warning("in_progress_failed", error=str(exc))
        await asyncio.sleep(every)
