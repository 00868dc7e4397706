"""Rolling rollouts: a broadcast or label job sent batch by batch. I/O: Redis and NATS.

A rollout job is recorded like any job (controller/jobs/group_commit.py hands
it here instead of publishing it on its target's subject). Then, batch by
batch in the expected set's sorted hostname order (common/rollout.py):

1. a controller claims batch ``n`` and its hosts atomically
   (controller/store/rollouts.py), writes a ``batch_started`` event, and
   publishes one signed copy per host on that host's subject; the copy
   names its one host (``JobSpec.host``), so no other agent runs it;
2. the collector folds the answers; its change feed wakes every controller
   (:meth:`Rollouts.run`), and the sweeper looks at each unfinished rollout
   when its time comes (:meth:`Rollouts.sweep`), which also covers a lost
   wake-up, a controller that died mid-step, or a restart;
3. once every host of the batch has a terminal state, and ``pause`` seconds
   later, batch ``n + 1`` is claimed; with ``max_concurrency`` the hosts of a
   batch are sent as earlier ones finish;
4. once failures exceed ``max_failures`` the hosts not yet sent are claimed
   as never to be sent and end ``skipped`` ("rollout stopped after N
   failures"); the job ends when the hosts in flight answered.

All state is in Redis, so any controller picks a rollout up where another
left it; each step is decided by :func:`plan` from what is stored, and
carried out only through claims, so controllers racing on one rollout send
each host once. A host claimed but not acked by JetStream within
``RESEND_AFTER`` (its controller died before publishing) is published again
with the same ``Nats-Msg-Id``, which the broker and the agent's journal
deduplicate. A cancel ends the job's status; claims refuse a final job, so
nothing is sent after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence

import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck

from common import messages, subjects
from common.job import CONTROLLER, FINAL_STATUSES, JobMeta
from common.messages import ENCODER, BatchStarted, JobSpec, Skipped
from common.rollout import FAILURES, batches, failures_allowed, stopped_reason
from common.signing import Signer
from controller.jobs.sealing import Sealer
from controller.metrics import ControllerMetrics
from controller.store.jobs import JobStore
from controller.store.rollouts import RolloutState, RolloutStore
from controller.watch.changes import ChangeFeed
from controller.watch.watchers import Change, Watchers

log = structlog.get_logger("corral.rollout")

LOOK_AGAIN = 5.0  # seconds: a rollout in flight is looked at this often without any event
RESEND_AFTER = 5.0  # seconds a claimed host may wait for its copy's ack before a resend
ACK_TIMEOUT = 5.0
FOLLOW_CHECK = 1.0  # seconds between looks at stop and at whether any rollout is left


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """What to do for a rollout now; decided by :func:`plan`, carried out by :class:`Rollouts`."""

    look_at: float  # when to look again without an event (inf: never, it is over)
    over: bool = False
    stop: list[str] = msgspec.field(default_factory=list)  # claim as never to be sent
    skip: list[str] = msgspec.field(default_factory=list)  # stopped, still without `skipped`
    failures: int = 0
    batch: int = 0  # the batch ``send`` belongs to
    new_batch: bool = False
    send: list[str] = msgspec.field(default_factory=list)
    resend: list[str] = msgspec.field(default_factory=list)
    finished: int = 0  # a batch seen finished for the first time


def plan(state: RolloutState, now: float) -> Step:
    """The next step of a rollout from its stored state. Pure."""
    meta, rollout, status = state.meta, state.meta.rollout, state.status
    if status in FINAL_STATUSES or rollout is None or meta.expected is None:
        return Step(look_at=math.inf, over=True)
    later = now + LOOK_AGAIN
    terminal, claims = state.terminal, state.claims
    if state.stopped is not None:
        waiting = [h for h, c in claims.items() if c.stopped and h not in terminal]
        return Step(look_at=later, skip=sorted(waiting), failures=state.stopped)
    failures = sum(1 for kind in terminal.values() if kind in FAILURES)
    allowed = failures_allowed(rollout.max_failures, len(meta.expected))
    if allowed is not None and failures > allowed:
        unsent = sorted(h for h in meta.expected if h not in claims)
        return Step(look_at=later, stop=unsent, failures=failures)
    groups = batches(meta.expected, rollout)
    concurrency = rollout.max_concurrency or len(groups[0])
    n = state.batch
    if n == 0:
        return Step(look_at=later, batch=1, new_batch=True, send=groups[0][:concurrency])
    current = groups[n - 1]
    running = [h for h in current if h in claims and h not in terminal]
    resend = [h for h in running if h not in state.acked and now - claims[h].at >= RESEND_AFTER]
    unclaimed = [h for h in current if h not in claims]
    if unclaimed or running:
        room = max(concurrency - len(running), 0)
        return Step(look_at=later, batch=n, send=unclaimed[:room], resend=resend)
    if n == len(groups):
        return Step(look_at=later)  # the last answer's fold ends the job
    seen = state.finished.get(n)
    start_at = (now if seen is None else seen) + rollout.pause
    finished = n if seen is None else 0
    if now < start_at:
        return Step(look_at=start_at, finished=finished)
    following = groups[n][:concurrency]
    return Step(look_at=later, finished=finished, batch=n + 1, new_batch=True, send=following)


class Rollouts:
    def __init__(
        self,
        store: JobStore,
        state: RolloutStore,
        js: JetStreamContext,
        signer: Signer,
        sealer: Sealer,
        *,
        name: str = CONTROLLER,
        feed: ChangeFeed | None = None,
        watchers: Watchers | None = None,
        metrics: ControllerMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.state = state
        self.js = js
        self.signer = signer
        self.sealer = sealer
        self.name = name
        self.feed = feed
        self.clock = clock
        self.unfinished: set[str] = set()
        self.wake = asyncio.Event()
        self.busy: set[str] = set()  # rollouts this process is advancing now
        self.again: set[str] = set()  # ... and changed meanwhile
        self.watchers = watchers

    async def start(self, metas: Sequence[JobMeta]) -> list[bool]:
        """Take recorded rollout jobs over: indexed, then their first batch sent.

        Per job: True once the rollout is indexed (its job then counts as
        dispatched: the sweeper carries it on, whatever happens to this call).
        """
        started = []
        for meta in metas:
            try:
                await self.state.look_at(meta.id, self.clock())
            except Exception as exc:  # noqa: BLE001 - left undispatched: the reconciler retries
                log.warning("rollout_not_started", job_id=meta.id, error=str(exc))
                started.append(False)
                continue
            self.unfinished.add(meta.id)
            self.wake.set()
            started.append(True)
        for meta, ok in zip(metas, started, strict=True):
            if ok:
                await self.advance(meta.id)
        return started

    async def advance(self, job_id: str) -> None:
        """Decide and carry out the rollout's next step; never raises."""
        if job_id in self.busy:
            self.again.add(job_id)  # the running call looks once more when it is done
            return
        self.busy.add(job_id)
        try:
            with structlog.contextvars.bound_contextvars(job_id=job_id):
                while True:
                    self.again.discard(job_id)
                    await self._advance(job_id)
                    if job_id not in self.again:
                        break
        except Exception as exc:  # noqa: BLE001 - the sweeper comes back to it
            log.warning("rollout_step_failed", job_id=job_id, error=str(exc))
        finally:
            self.busy.discard(job_id)
            self.again.discard(job_id)

    async def _advance(self, job_id: str) -> None:
        for _ in range(3):  # a step can make the next one due at once
            state = await self.state.state(job_id)
            now = self.clock()
            step = plan(state, now) if state is not None else None
            if state is None or step is None or step.over:
                await self.state.forget(job_id)
                self.unfinished.discard(job_id)
                return
            acted = await self._carry_out(state, step, now)
            await self.state.look_at(job_id, step.look_at)
            if not acted:
                return

    async def _carry_out(self, state: RolloutState, step: Step, now: float) -> bool:
        """Do ``step``; whether it changed anything that may make another step due."""
        meta = state.meta
        if step.finished:
            seen = await self.state.finished(meta.id, step.finished, now)
            if not step.send:  # another controller may have seen it finished earlier
                step = msgspec.structs.replace(step, look_at=seen + _pause(meta))
        if step.stop:
            claimed = await self.state.claim(
                meta.id, "stop", step.failures, self.name, now, step.stop
            )
            log.info("rollout_stopped", failures=step.failures, unsent=len(claimed))
            await self._skip(meta, claimed, step.failures, now)
            return False
        if step.skip:
            await self._skip(meta, step.skip, step.failures, now)
        if step.send:
            mode = "batch" if step.new_batch else "more"
            claimed = await self.state.claim(meta.id, mode, step.batch, self.name, now, step.send)
            if claimed and step.new_batch:
                await self._batch_started(meta, step.batch, claimed, now)
            await self._publish(self._real(state), claimed)
        if step.resend:
            log.info("rollout_resent", hosts=len(step.resend))
            # Its claimer may have died before recording the batch's start too
            # (the event's id is the batch's: a second copy is not stored).
            batch = sorted(h for h, c in state.claims.items() if c.batch == state.batch)
            await self._batch_started(meta, state.batch, batch, now)
            await self._publish(self._real(state), step.resend)
        return bool(step.finished and not step.send and step.look_at <= now)

    def _real(self, state: RolloutState) -> JobMeta:
        operation = self.sealer.real_operation(state.meta.id, state.meta.operation, state.sealed)
        return msgspec.structs.replace(state.meta, operation=operation)

    async def _batch_started(self, meta: JobMeta, n: int, hosts: list[str], now: float) -> None:
        assert meta.rollout is not None
        assert meta.expected is not None
        of = len(batches(meta.expected, meta.rollout))
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        event = BatchStarted(
            event_id=messages.event_id(meta.id, CONTROLLER, n, "batch_started"),
            job_id=meta.id,
            hostname=CONTROLLER,
            timestamp=now,
            attempt=n,
            message=f"batch {n} of {of} started: {shown}",
        )
        await self._record(meta.id, [event])
        log.info("rollout_batch_started", batch=n, of=of, hosts=len(hosts))

    async def _skip(self, meta: JobMeta, hosts: list[str], failures: int, now: float) -> None:
        reason = stopped_reason(failures)
        events: list[messages.Event] = [
            Skipped(
                event_id=messages.event_id(meta.id, host, 0, "skipped"),
                job_id=meta.id,
                hostname=host,
                timestamp=now,
                attempt=0,
                error=reason,
            )
            for host in hosts
        ]
        if events:
            await self._record(meta.id, events)

    async def _record(self, job_id: str, events: list[messages.Event]) -> None:
        """Store the controller's own events as the collector stores agents'; tell watchers."""
        applied = (await self.store.apply({job_id: [(e, ENCODER.encode(e)) for e in events]}))[
            job_id
        ]
        if applied.finished and self.metrics is not None:  # the stop's skips ended it
            self.metrics.job_finished(applied.status, applied.operation, applied.created)
        if self.feed is not None:
            await self.feed.publish({job_id: applied.status}, {job_id: applied.operation})

    async def _publish(self, meta: JobMeta, hosts: list[str]) -> None:
        """One signed copy per host on its subject; the acked ones noted."""
        if not hosts:
            return
        pending: dict[str, asyncio.Future[PubAck]] = {}
        for host in hosts:
            spec = JobSpec(
                job_id=meta.id,
                operation=meta.operation,
                target=meta.target,
                issued_at=self.clock(),
                deadline=meta.deadline,
                timeout=meta.timeout,
                dry_run=meta.dry_run,
                host=host,
            )
            payload = ENCODER.encode(self.signer.sign(ENCODER.encode(spec)))
            try:
                pending[host] = await self.js.publish_async(
                    subjects.job_for_host(host),
                    payload,
                    headers={"Nats-Msg-Id": f"{meta.id}:{host}"},
                )
            except Exception as exc:  # noqa: BLE001 - resent after RESEND_AFTER
                log.warning("rollout_publish_failed", hostname=host, error=str(exc))
        if pending:
            _, late = await asyncio.wait(pending.values(), timeout=ACK_TIMEOUT)
            for future in late:
                future.cancel()
        seqs = {
            host: int(f.result().seq)
            for host, f in pending.items()
            if not f.cancelled() and f.exception() is None
        }
        await self.state.acked(meta.id, seqs)

    # -- what drives it -------------------------------------------------------------

    async def sweep(self, now: float) -> None:
        """The sweeper's tick: learn which rollouts are unfinished (some started on
        other controllers), and advance those whose time has come."""
        scored = await self.state.unfinished()
        self.unfinished = set(scored)
        if self.unfinished:
            self.wake.set()
        for job_id, when in scored.items():
            if when <= now:
                await self.advance(job_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Advance a rollout as soon as the change feed names it. It watches only
        while rollouts are unfinished: otherwise the feed costs this process nothing."""
        watchers = self.watchers
        if watchers is None:
            return
        while not stop.is_set():
            await _either(stop, self.wake)
            self.wake.clear()
            if self.unfinished and not stop.is_set():
                async with watchers.firehose() as changes:
                    await self._follow(changes, stop)

    async def _follow(self, changes: asyncio.Queue[list[Change]], stop: asyncio.Event) -> None:
        """Advance the unfinished rollouts the feed names, until none is left."""
        while not stop.is_set() and self.unfinished:
            with contextlib.suppress(TimeoutError):
                for change in await asyncio.wait_for(changes.get(), FOLLOW_CHECK):
                    if change.job_id in self.unfinished:
                        await self.advance(change.job_id)


async def _either(stop: asyncio.Event, wake: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _pause(meta: JobMeta) -> float:
    return meta.rollout.pause if meta.rollout is not None else 0.0
