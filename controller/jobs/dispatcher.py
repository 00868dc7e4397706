"""Submitting jobs: record, sign, publish, mark dispatched. I/O: Redis and NATS.

The record is written before the publish, so an agent's first event always
finds its job, and it stays *undispatched* until JetStream acknowledged the
publish: a controller that dies in between leaves the job for the reconciler
(controller/upkeep/reconcile.py), which republishes it with the same
``Nats-Msg-Id = job id`` (the duplicate window stores it once) or fails it
with "not dispatched" once its deadline passed.

Jobs are committed in groups (controller/jobs/group_commit.py): concurrent single
submits share one record pipeline, one round of publishes and one pipeline
of dispatched marks; a batch submit is one such commit.

The stored operation has its secrets redacted; the real one is signed and
sent to the agents, and kept sealed (controller/jobs/sealing.py) for republishing
and retries.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import msgspec
import structlog

from common.errors import BrokerUnavailable, Conflict, InvalidRequest
from common.job import CONTROLLER, JobMeta
from common.messages import ENCODER, Operation, Submitted, event_id
from common.redaction import Redactor
from common.rollout import Rollout, batch_count
from common.targets import Target
from controller.jobs.group_commit import Committer, GroupCommit, Prepared
from controller.jobs.sealing import Sealer
from controller.metrics import ControllerMetrics
from controller.registry import Registry
from controller.store.control import ControlStore

log = structlog.get_logger("corral.dispatch")


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    """A validated submit (controller/api/bodies.py): what the dispatcher needs."""

    operation: Operation
    target: Target
    timeout: float
    dry_run: bool = False
    rollout: Rollout | None = None


def check_pauses(rollout: Rollout, expected: int, timeout: float) -> None:
    """400 for a rollout whose pauses alone outlast the job's timeout: its last
    batches could never run."""
    pauses = (batch_count(expected, rollout) - 1) * rollout.pause
    if pauses >= timeout:
        raise InvalidRequest(
            f"rollout.pause: {batch_count(expected, rollout)} batches with {rollout.pause:g} s"
            f" pauses take {pauses:g} s, not within the job's timeout of {timeout:g} s"
        )


class Dispatcher:
    def __init__(
        self,
        committer: Committer,
        control: ControlStore,
        registry: Registry,
        *,
        sealer: Sealer,
        redactor: Redactor | None = None,
        connected: Callable[[], bool] = lambda: True,
        group_limit: int = 1000,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.committer = committer
        self.control = control
        self.registry = registry
        self.sealer = sealer
        self.redactor = redactor or Redactor()
        self.connected = connected
        self.group = GroupCommit(committer.commit, limit=group_limit)

    def expected_agents(self, target: Target, now: float) -> list[str] | None:
        """The agents a job waits for; 400 when the target matches nobody."""
        if target.kind == "any":
            if not self.registry.available(now):
                raise InvalidRequest(f"target: _any matches no live agent{self._but_drained()}")
            return None
        if target.kind == "host":
            if target.hostname not in self.registry.agents:
                raise InvalidRequest(f"target: no registered agent named {target.hostname!r}")
            if target.hostname in self.registry.drained:
                raise Conflict(
                    f"agent {target.hostname} is drained; undrain it"
                    f" (POST /agent/{target.hostname}/undrain) or target another",
                    title="Agent drained.",
                )
            return [target.hostname]
        expected = self.registry.expected_for(target, now)
        if not expected:
            raise InvalidRequest(f"target: {target} matches no live agent{self._but_drained()}")
        return expected

    def _but_drained(self) -> str:
        return " that is not drained" if self.registry.drained else ""

    def check_dry_run(self, expected: list[str] | None, now: float) -> None:
        """400 if an agent that may take a dry run predates it: it would run the job for real."""
        agents = self.registry.agents
        hosts = [r.hostname for r in self.registry.live(now)] if expected is None else expected
        older = sorted(h for h in hosts if h in agents and not agents[h].facts.dry_run)
        if older:
            names = ", ".join(older[:5]) + (f" and {len(older) - 5} more" if len(older) > 5 else "")
            raise InvalidRequest(
                f"dry_run: {names} predate dry run and would run the operation for real;"
                " upgrade them or target others"
            )

    def new_meta(self, submission: Submission, job_id: str | None, retry_of: str | None) -> JobMeta:
        now = time.time()
        target = submission.target
        expected = self.expected_agents(target, now)
        if submission.dry_run:
            self.check_dry_run(expected, now)
        if submission.rollout is not None and expected is not None:
            check_pauses(submission.rollout, len(expected), submission.timeout)
        return JobMeta(
            id=job_id or str(uuid.uuid4()),
            operation=submission.operation,
            target=str(target),
            created=now,
            deadline=now + submission.timeout,
            timeout=submission.timeout,
            expected=expected,
            single=not target.is_broadcast,
            retry_of=retry_of,
            dry_run=submission.dry_run,
            rollout=submission.rollout,
        )

    def prepare(
        self, submission: Submission, job_id: str | None = None, retry_of: str | None = None
    ) -> Prepared:
        """Everything a job needs before it is committed; 400 if its target matches nobody."""
        meta = self.new_meta(submission, job_id, retry_of)
        stored = msgspec.structs.replace(meta, operation=self.redactor.operation(meta.operation))
        sealed = None
        if stored.operation != meta.operation:
            sealed = self.sealer.seal(meta.id, ENCODER.encode(meta.operation))
        message = f"job submitted for {meta.target}"
        if submission.target.is_broadcast and self.registry.drained:
            left_out = self.registry.drained_for(submission.target, meta.created)
            if left_out:
                message += f"; left out, drained: {', '.join(left_out)}"
        submitted = Submitted(
            event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
            job_id=meta.id,
            hostname=CONTROLLER,
            timestamp=meta.created,
            message=message,
        )
        return Prepared(meta=meta, stored=stored, submitted=submitted, sealed=sealed)

    def require_broker(self) -> None:
        if not self.connected():
            # Refuse before writing anything: a 503 leaves no record behind.
            raise BrokerUnavailable("NATS is unreachable; the job was not accepted, retry later")

    async def submit(
        self, submission: Submission, *, retry_of: str | None = None, job_id: str | None = None
    ) -> JobMeta:
        """Record and publish a job, sharing the commit with concurrent submits; its stored meta."""
        self.require_broker()
        job = self.prepare(submission, job_id, retry_of)
        await self.group.submit(job)
        log.info(
            "job_submitted",
            job_id=job.meta.id,
            operation=job.meta.operation.type,
            target=job.meta.target,
        )
        self._count(job.meta)
        return job.stored

    def _count(self, meta: JobMeta) -> None:
        if self.metrics is not None:
            self.metrics.submitted.labels(meta.operation.type).inc()

    async def commit_all(self, jobs: list[Prepared]) -> list[JobMeta]:
        """Commit prepared jobs together; raise the first error that kept a record out."""
        outcomes = await self.committer.commit(jobs)
        failed = [o for o in outcomes if o is not None]
        if failed:
            log.warning("jobs_not_written", jobs=len(jobs), failed=len(failed))
            raise failed[0]
        log.info("jobs_submitted", jobs=len(jobs), first_job_id=jobs[0].meta.id)
        for job in jobs:
            self._count(job.meta)
        return [j.stored for j in jobs]

    async def dispatch(self, meta: JobMeta) -> bool:
        """Publish a recorded job again, marked dispatched once acked; False: not acked."""
        [acked] = await self.committer.dispatch([meta])
        return acked

    def real_operation(self, job_id: str, stored: Operation, sealed: bytes | None) -> Operation:
        """The operation as submitted: unsealed if its stored copy was redacted."""
        return self.sealer.real_operation(job_id, stored, sealed)

    async def real_meta(self, job_id: str) -> JobMeta | None:
        """A job's meta with its real operation, for republishing and retries."""
        state = await self.control.dispatch_state(job_id)
        if state is None:
            return None
        operation = self.real_operation(job_id, state.meta.operation, state.sealed)
        return msgspec.structs.replace(state.meta, operation=operation)
