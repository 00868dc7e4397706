"""The job detail served by ``GET /job/{id}``: its shape and how a record renders. Pure.

The field set is the seed's, exactly: ``id, status, created, operation,
result, changed, error, hostname, updated_at, responses, agent_states,
timeline``. Timestamps render as RFC 3339 UTC; durations are seconds. A dry
run says so inside ``operation`` (``"dry_run": true``), not in a field of its
own; so does a rolling rollout (``"rollout": {settings..., "progress": {batch,
of, state}}``), its progress derived from the record alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from common.fold import AgentState, JobRecord
from common.job import CONTROLLER, FINAL_STATUSES, SKIPPED_EVERYWHERE, JobMeta
from common.messages import Operation
from common.rollout import Rollout, batch_count, batches
from common.timefmt import rfc3339

RESPONSE_STATUSES = frozenset({"completed", "failed", "skipped", "cancelled"})


# Strings and numbers only, so never in a reference cycle: gc=False spares the
# collector thousands of objects per detail read.
class TimelineItem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    timestamp: str | None
    event: str
    hostname: str
    message: str
    error: str | None


class Response(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    data: Any
    changed: bool | None
    error: str | None
    hostname: str


# Scalars only, like TimelineItem.
class AgentStateView(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    status: str
    error: str | None
    duration: float | None
    attempt: int
    acknowledged_at: str | None
    started_at: str | None
    finished_at: str | None
    late: bool
    expected: bool


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """Where a rollout stands: ``batch`` (the last one started; 0 before the first)
    of ``of``; ``state`` is ``running``, ``paused`` (between batches), ``done``,
    ``stopped`` (failures exceeded max_failures, or the deadline came first)
    or ``cancelled``."""

    batch: int
    of: int
    state: str


class ShownRollout(Rollout, frozen=True, kw_only=True):
    """A rollout's settings as submitted (unset ones ``null``), and its progress."""

    progress: Progress


class ShownOperation(Operation, frozen=True, kw_only=True, omit_defaults=True):
    """``operation`` as the detail shows it: as submitted, with ``"dry_run": true``
    for a dry run only and ``rollout`` for a rollout only (``data`` is always
    there), and read back the same way."""

    data: dict[str, Any]
    dry_run: bool = False
    rollout: ShownRollout | None = None


def rollout_progress(
    rollout: Rollout, expected: list[str], record: JobRecord, status: str
) -> Progress:
    """A rollout's progress from the stored record: pure, like the rest of the detail.

    The batch is the highest ``batch_started`` event's; the rollout stopped if
    the controller skipped an agent (attempt 0: only a stopping rollout does).
    """
    started = max((e.attempt for e in record.timeline if e.event == "batch_started"), default=0)
    of = batch_count(len(expected), rollout)
    agents = record.agents
    stopped = any(s.status == "skipped" and s.head[1] == 0 for s in agents.values())
    if status == "cancelled":
        state = "cancelled"
    elif stopped or (status in FINAL_STATUSES and started < of):
        state = "stopped"
    elif status in FINAL_STATUSES:
        state = "done"
    elif 0 < started < of and all(
        h in agents and agents[h].is_terminal for h in batches(expected, rollout)[started - 1]
    ):
        state = "paused"
    else:
        state = "running"
    return Progress(batch=started, of=of, state=state)


def shown_operation(meta: JobMeta, record: JobRecord, status: str) -> ShownOperation:
    operation = meta.operation
    rollout = None
    if meta.rollout is not None and meta.expected is not None:
        rollout = ShownRollout(
            **msgspec.structs.asdict(meta.rollout),
            progress=rollout_progress(meta.rollout, meta.expected, record, status),
        )
    return ShownOperation(
        type=operation.type, data=operation.data, dry_run=meta.dry_run, rollout=rollout
    )


class JobDetail(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: str | None
    operation: ShownOperation
    result: Any
    changed: bool | None
    error: str | None
    hostname: str | None
    updated_at: str | None
    responses: dict[str, Response]
    agent_states: dict[str, AgentStateView]
    timeline: list[TimelineItem]


def single_agent(meta: JobMeta, record: JobRecord) -> AgentState | None:
    """The agent whose answer is the job's answer, for single-target jobs."""
    if not meta.single or not record.agents:
        return None
    if meta.expected:
        return record.agents.get(meta.expected[0])
    return max(record.agents.values(), key=lambda state: state.head)


def job_changed(meta: JobMeta, record: JobRecord, status: str) -> bool | None:
    """``null`` unless completed; for broadcast, true if any agent changed."""
    if status not in ("completed", "partial_failure"):
        return None
    done = [s for s in record.agents.values() if s.status == "completed"]
    return any(bool(s.changed) for s in done)


CANCELLED_ERROR = "cancelled by request"


def _controller_error(record: JobRecord) -> str | None:
    """The newest error the controller wrote about the job itself (e.g. not dispatched)."""
    for entry in reversed(record.timeline):
        if entry.hostname == CONTROLLER and entry.error:
            return entry.error
    return None


def job_error(meta: JobMeta, record: JobRecord, status: str) -> str | None:
    if status == "cancelled":
        return CANCELLED_ERROR
    if status not in ("failed", "partial_failure"):
        return None
    if meta.single:
        agent = single_agent(meta, record)
        if agent is None:
            return _controller_error(record) or "no agent answered before the deadline"
        return f"{SKIPPED_EVERYWHERE}: {agent.error}" if agent.status == "skipped" else agent.error
    expected = meta.expected or []
    states = [getattr(record.agents.get(h), "status", "") for h in expected]
    skipped = states.count("skipped")
    if expected and skipped == len(expected):
        return SKIPPED_EVERYWHERE
    missed = [h for h, s in zip(expected, states, strict=True) if s not in ("completed", "skipped")]
    first = "; ".join(
        f"{h}: {getattr(record.agents.get(h), 'error', None) or 'no answer'}" for h in missed[:3]
    )
    more = f" (and {len(missed) - 3} more)" if len(missed) > 3 else ""
    aside = f", {skipped} skipped" if skipped else ""
    answering = len(expected) - skipped
    return f"{len(missed)} of {answering} agents did not complete{aside}: {first}{more}"


Formatter = Callable[[float | None], str | None]


def _memo_rfc3339() -> Formatter:
    """:func:`rfc3339` memoised for one render: agent states repeat timeline times."""
    done: dict[float, str | None] = {}

    def fmt(timestamp: float | None) -> str | None:
        if timestamp is None:
            return None
        found = done.get(timestamp)
        if found is None:
            found = done[timestamp] = rfc3339(timestamp)
        return found

    return fmt


def _state_view(state: AgentState, expected: bool, fmt: Formatter = rfc3339) -> AgentStateView:
    return AgentStateView(
        status=state.status,
        error=state.error,
        duration=state.duration,
        attempt=state.attempt,
        acknowledged_at=fmt(state.acknowledged_at),
        started_at=fmt(state.started_at),
        finished_at=fmt(state.finished_at),
        late=state.late,
        expected=expected,
    )


# Frozen, so every pending agent of a job shares this one view.
_PENDING = AgentStateView(
    status="pending",
    error=None,
    duration=None,
    attempt=0,
    acknowledged_at=None,
    started_at=None,
    finished_at=None,
    late=False,
    expected=True,
)


def agent_states(
    meta: JobMeta, record: JobRecord, fmt: Formatter = rfc3339
) -> dict[str, AgentStateView]:
    expected = set(meta.expected or ())
    anyone = not meta.expected
    views = {
        host: _state_view(state, anyone or host in expected, fmt)
        for host, state in record.agents.items()
    }
    for host in expected.difference(views):
        views[host] = _PENDING
    # Hostname order: the same record always renders the same document.
    return dict(sorted(views.items()))


def responses(record: JobRecord) -> dict[str, Response]:
    return {
        host: Response(
            status=s.status, data=s.data, changed=s.changed, error=s.error, hostname=host
        )
        for host, s in sorted(record.agents.items())
        if s.status in RESPONSE_STATUSES
    }


def timeline(record: JobRecord, fmt: Formatter = rfc3339) -> list[TimelineItem]:
    return [
        TimelineItem(
            timestamp=fmt(e.timestamp),
            event=e.event,
            hostname=e.hostname,
            message=e.message,
            error=e.error,
        )
        for e in record.timeline
    ]


def render(meta: JobMeta, record: JobRecord, status: str) -> JobDetail:
    agent = single_agent(meta, record)
    updated = max(meta.created, record.updated_at or meta.created)
    fmt = _memo_rfc3339()
    return JobDetail(
        id=meta.id,
        status=status,
        created=fmt(meta.created),
        operation=shown_operation(meta, record, status),
        result=agent.data if agent is not None and status == "completed" else None,
        changed=job_changed(meta, record, status),
        error=job_error(meta, record, status),
        hostname=agent.hostname if agent is not None else None,
        updated_at=fmt(updated),
        responses=responses(record),
        agent_states=agent_states(meta, record, fmt),
        timeline=timeline(record, fmt),
    )


DETAIL_ENCODER = msgspec.json.Encoder()
