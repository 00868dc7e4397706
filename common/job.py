"""The job record's stored parts and the status vocabulary. No I/O."""

from __future__ import annotations

import typing
from typing import Literal

import msgspec

from common.messages import Operation
from common.rollout import Rollout

JobStatus = Literal[
    "submitted", "processing", "completed", "failed", "partial_failure", "cancelled"
]
AgentStatus = Literal[
    "pending",
    "acknowledged",
    "started",
    "retried",
    "completed",
    "failed",
    "skipped",
    "cancelled",
    "timeout",
]
JOB_STATUSES: tuple[JobStatus, ...] = typing.get_args(JobStatus)
FINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "partial_failure", "cancelled"})
# Statuses only move forward; the store refuses to move a job backwards.
STATUS_RANK: dict[str, int] = {
    status: 2 if status in FINAL_STATUSES else JOB_STATUSES.index(status) for status in JOB_STATUSES
}
CONTROLLER = "controller"


class JobMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What the controller knows of a job at submit; never changes afterwards.

    ``expected`` is the set of agents a broadcast or label job waits for,
    resolved from the registry at submit; ``None`` for ``_any``, where the
    agent is whichever takes it.
    """

    id: str
    operation: Operation
    target: str
    created: float
    deadline: float
    timeout: float
    expected: list[str] | None
    single: bool
    retry_of: str | None = None
    dry_run: bool = False
    # Sent batch by batch (common/rollout.py); only with an expected set.
    rollout: Rollout | None = None


def final_status(expected: int, completed: int, skipped: int = 0) -> JobStatus:
    """Status of a finished job from how many expected agents completed or skipped.

    A skipped agent (its host lacks what the operation needs) counts as
    neither: the job is ``completed`` when every agent that did not skip
    completed, and ``failed`` when every one skipped (SKIPPED_EVERYWHERE).
    """
    answering = expected - skipped
    if answering > 0 and completed >= answering:
        return "completed"
    if completed == 0:
        return "failed"
    return "partial_failure"


SKIPPED_EVERYWHERE = "skipped on every target"


META_DECODER = msgspec.msgpack.Decoder(JobMeta)
