"""Submitting jobs: record, sign, publish. I/O: Redis (through the store) and NATS.

The record is written before the publish, so an agent's first event always
finds its job. The publish carries ``Nats-Msg-Id = job id``: a publish
retried after a lost acknowledgement is stored once (duplicate window).
"""

from __future__ import annotations

import time
import uuid

import structlog
from nats.js import JetStreamContext

from common.errors import BrokerUnavailable, InvalidRequest
from common.job import CONTROLLER, JobMeta
from common.messages import ENCODER, JobSpec, Submitted, event_id
from common.signing import Signer
from common.targets import Target
from controller.registry import Registry
from controller.requests import Submission
from controller.store import JobStore

log = structlog.get_logger("corral.dispatch")


class Dispatcher:
    def __init__(
        self, store: JobStore, js: JetStreamContext, signer: Signer, registry: Registry
    ) -> None:
        self.store = store
        self.js = js
        self.signer = signer
        self.registry = registry

    def expected_agents(self, target: Target, now: float) -> list[str] | None:
        """The agents a job waits for; 400 when the target matches nobody."""
        if target.kind == "any":
            if not self.registry.live(now):
                raise InvalidRequest("target: _any matches no live agent")
            return None
        if target.kind == "host":
            if target.hostname not in self.registry.agents:
                raise InvalidRequest(f"target: no registered agent named {target.hostname!r}")
            return [target.hostname]
        expected = self.registry.expected_for(target, now)
        if not expected:
            raise InvalidRequest(f"target: {target} matches no live agent")
        return expected

    async def submit(self, submission: Submission, *, retry_of: str | None = None) -> JobMeta:
        now = time.time()
        target = submission.target
        meta = JobMeta(
            id=str(uuid.uuid4()),
            operation=submission.operation,
            target=str(target),
            created=now,
            deadline=now + submission.timeout,
            timeout=submission.timeout,
            expected=self.expected_agents(target, now),
            single=not target.is_broadcast,
            retry_of=retry_of,
        )
        submitted = Submitted(
            event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
            job_id=meta.id,
            hostname=CONTROLLER,
            timestamp=now,
            message=f"job submitted for {target}",
        )
        await self.store.create(meta, submitted)
        await self.publish(meta, target)
        log.info("job_submitted", job_id=meta.id, operation=meta.operation.type, target=meta.target)
        return meta

    async def publish(self, meta: JobMeta, target: Target) -> None:
        spec = JobSpec(
            job_id=meta.id,
            operation=meta.operation,
            target=meta.target,
            issued_at=meta.created,
            deadline=meta.deadline,
            timeout=meta.timeout,
        )
        signed = self.signer.sign(ENCODER.encode(spec))
        try:
            await self.js.publish(
                target.subject(), ENCODER.encode(signed), headers={"Nats-Msg-Id": meta.id}
            )
        except Exception as exc:
            # The record exists; the sweeper fails it at its deadline, so a
            # dropped publish is visible, never silent.
            log.warning("job_publish_failed", job_id=meta.id, error=str(exc))
            raise BrokerUnavailable(f"job {meta.id} recorded but not dispatched: {exc}") from exc
