"""The fold: a pure merge of job events into a job record. No I/O, no clock.

Delivery is at-least-once and events arrive in any order, so the record must
not depend on either. Every part of the record is a join in a lattice:

- ``seen`` is a set union: an event id counts once, whatever the redeliveries;
- ``timeline`` is the seen events sorted by (timestamp, hostname, event id);
- each agent's state keeps the *head* event with the greatest order key
  (terminal beats non-terminal, real terminals beat the controller's timeout,
  then higher attempt, then progress), plus min/max/or accumulators.

Joins are idempotent, commutative and associative, so :func:`fold` over any
permutation or duplication of an event list gives the same record; the tests
check that with hypothesis. :func:`fold_all` is the fast bulk form used on
the read path and is checked against the one-by-one fold.
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

from common.job import CONTROLLER, AgentStatus
from common.messages import (
    Cancelled,
    Completed,
    Event,
    Failed,
    Skipped,
    TimedOut,
    event_kind,
)

# (tier, attempt, rank, timestamp, event_id): the greatest key is the head.
OrderKey = tuple[int, int, int, float, str]

_RANK = {
    "retried": 0,
    "acknowledged": 1,
    "started": 2,
    "failed": 0,
    "cancelled": 1,
    "completed": 2,
    # Its own rank: two terminal events of one agent and attempt tie only on
    # a rank they share, and the apply script keeps the first of a tie where
    # the fold takes the greater id (a controller's skip and cancel, both
    # attempt 0, must not tie).
    "skipped": 3,
    "timeout": 0,
}
_TIER = {"completed": 2, "failed": 2, "skipped": 2, "cancelled": 2, "timeout": 1}
_ANSWERS = frozenset({"completed", "failed", "skipped"})
_KINDS: dict[type, str] = {kind: str(kind.__struct_config__.tag) for kind in typing.get_args(Event)}
# Where an event sits in one agent's lifecycle: at equal timestamps the timeline
# shows an attempt's events in the order they happen, not by event id.
_STAGE = {
    "submitted": 0,
    "batch_started": 0,
    "retried": 1,
    "acknowledged": 2,
    "started": 3,
    "completed": 4,
    "failed": 4,
    "skipped": 4,
    "cancelled": 4,
    "timeout": 4,
}
# Timestamp, then lifecycle sequence (attempt, stage), then a total order.
_TIMELINE_KEY = operator.attrgetter("timestamp", "attempt", "stage", "hostname", "event_id")


class AgentState(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    status: AgentStatus
    head: OrderKey
    attempt: int
    error: str | None = None
    data: Any = None
    changed: bool | None = None
    duration: float | None = None
    acknowledged_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    timed_out: bool = False
    # The controller ended this agent with a cancel (its own ``cancelled``
    # event, attempt 0) when the job was cancelled by request.
    cancel_requested: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.head[0] > 0

    @property
    def late(self) -> bool:
        """A real answer that arrived after the controller had given up on it."""
        if self.timed_out and self.head[0] == 2:
            return True
        return self.cancel_requested and self.head[1] > 0 and self.status in _ANSWERS


# Strings and numbers only, so never in a reference cycle: gc=False spares the
# collector thousands of objects per detail read.
class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    timestamp: float
    event: str
    hostname: str
    message: str
    error: str | None
    event_id: str
    attempt: int = 1
    stage: int = 0


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    agents: dict[str, AgentState] = msgspec.field(default_factory=dict)
    timeline: tuple[TimelineEntry, ...] = ()
    seen: frozenset[str] = frozenset()
    updated_at: float | None = None
    # When the job was cancelled by request (the controller's job-level
    # ``cancelled`` event); the earliest such event counts.
    cancel_requested_at: float | None = None


EMPTY = JobRecord()


def terminal_order(kind: str) -> tuple[int, int]:
    """(tier, rank) of a terminal event kind: its order key without attempt, time and id."""
    return _TIER[kind], _RANK[kind]


def order_key(event: Event) -> OrderKey:
    kind = event_kind(event)
    return (_TIER.get(kind, 0), event.attempt, _RANK.get(kind, 0), event.timestamp, event.event_id)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _head_fields(event: Event) -> dict[str, Any]:
    kind = event_kind(event)
    fields: dict[str, Any] = {
        "status": kind,
        "error": None,
        "data": None,
        "changed": None,
        "duration": None,
        "finished_at": None,
    }
    if isinstance(event, Completed):
        fields.update(data=event.result, changed=event.changed, duration=event.duration)
    elif isinstance(event, Failed | Skipped):
        fields.update(error=event.error, duration=event.duration)
    elif isinstance(event, Cancelled | TimedOut):
        fields.update(error=event.error)
    if kind in _TIER:
        fields["finished_at"] = event.timestamp
    return fields


def merge_agent(state: AgentState | None, event: Event) -> AgentState:
    """Join one agent event into that agent's state."""
    kind = event_kind(event)
    key = order_key(event)
    ack = event.timestamp if kind == "acknowledged" else None
    started = event.timestamp if kind == "started" else None
    timed_out = kind == "timeout"
    cancel_requested = kind == "cancelled" and event.attempt == 0
    if state is None:
        return AgentState(
            hostname=event.hostname,
            head=key,
            attempt=event.attempt,
            acknowledged_at=ack,
            started_at=started,
            timed_out=timed_out,
            cancel_requested=cancel_requested,
            **_head_fields(event),
        )
    head = _head_fields(event) if key > state.head else {}
    return msgspec.structs.replace(
        state,
        head=max(key, state.head),
        attempt=max(state.attempt, event.attempt),
        acknowledged_at=_min(state.acknowledged_at, ack),
        started_at=_min(state.started_at, started),
        timed_out=state.timed_out or timed_out,
        cancel_requested=state.cancel_requested or cancel_requested,
        **head,
    )


def timeline_entry(event: Event) -> TimelineEntry:
    kind = _KINDS[type(event)]
    return TimelineEntry(
        timestamp=event.timestamp,
        event=kind,
        hostname=event.hostname,
        message=event.message or _MESSAGES.get(kind, kind),
        error=getattr(event, "error", None) or None,
        event_id=event.event_id,
        attempt=event.attempt,
        stage=_STAGE.get(kind, 0),
    )


def _cancel_time(event: Event) -> float | None:
    """The time of a job-level cancel request, or None for any other event."""
    if event.hostname == CONTROLLER and isinstance(event, Cancelled):
        return event.timestamp
    return None


def fold(record: JobRecord, event: Event) -> JobRecord:
    """Merge one event into a record. Idempotent and order-insensitive."""
    if event.event_id in record.seen:
        return record
    agents = record.agents
    if event.hostname != CONTROLLER:
        agents = {**agents, event.hostname: merge_agent(agents.get(event.hostname), event)}
    timeline = tuple(sorted((*record.timeline, timeline_entry(event)), key=_TIMELINE_KEY))
    updated = (
        event.timestamp if record.updated_at is None else max(record.updated_at, event.timestamp)
    )
    return JobRecord(
        agents=agents,
        timeline=timeline,
        seen=record.seen | {event.event_id},
        updated_at=updated,
        cancel_requested_at=_min(record.cancel_requested_at, _cancel_time(event)),
    )


def fold_all(events: Iterable[Event], record: JobRecord = EMPTY) -> JobRecord:
    """Fold many events at once: the same record as folding them one by one.

    The read path folds thousands of events per request, so each agent's new
    events are joined in one pass and its state built once (:func:`_merge_group`),
    rather than one ``AgentState`` per event.
    """
    fresh: dict[str, Event] = {}
    seen = record.seen
    for event in events:
        if event.event_id not in seen:
            fresh.setdefault(event.event_id, event)
    if not fresh:
        return record
    groups: dict[str, list[Event]] = {}
    cancel_at = record.cancel_requested_at
    for event in fresh.values():
        if event.hostname != CONTROLLER:
            groups.setdefault(event.hostname, []).append(event)
        else:
            cancel_at = _min(cancel_at, _cancel_time(event))
    agents = dict(record.agents)
    for host, group in groups.items():
        agents[host] = _merge_group(agents.get(host), group)
    entries = [*record.timeline, *map(timeline_entry, fresh.values())]
    entries.sort(key=_TIMELINE_KEY)
    newest = max(e.timestamp for e in fresh.values())
    updated = newest if record.updated_at is None else max(record.updated_at, newest)
    return JobRecord(
        agents=agents,
        timeline=tuple(entries),
        seen=record.seen | fresh.keys(),
        updated_at=updated,
        cancel_requested_at=cancel_at,
    )


def _merge_group(state: AgentState | None, events: list[Event]) -> AgentState:
    """Join one agent's events into its state at once: :func:`merge_agent` over them."""
    head_event: Event | None = None
    head = state.head if state is not None else None
    attempt = state.attempt if state is not None else events[0].attempt
    ack = state.acknowledged_at if state is not None else None
    started = state.started_at if state is not None else None
    timed_out = state.timed_out if state is not None else False
    cancel_requested = state.cancel_requested if state is not None else False
    for event in events:
        kind = _KINDS[type(event)]
        key = (
            _TIER.get(kind, 0),
            event.attempt,
            _RANK.get(kind, 0),
            event.timestamp,
            event.event_id,
        )
        if head is None or key > head:
            head, head_event = key, event
        attempt = max(attempt, event.attempt)
        if kind == "acknowledged":
            ack = _min(ack, event.timestamp)
        elif kind == "started":
            started = _min(started, event.timestamp)
        elif kind == "timeout":
            timed_out = True
        elif kind == "cancelled" and event.attempt == 0:
            cancel_requested = True
    assert head is not None  # events is never empty
    changes: dict[str, Any] = {
        "head": head,
        "attempt": attempt,
        "acknowledged_at": ack,
        "started_at": started,
        "timed_out": timed_out,
        "cancel_requested": cancel_requested,
    }
    if head_event is not None:
        changes.update(_head_fields(head_event))
    if state is None:
        return AgentState(hostname=events[0].hostname, **changes)
    return msgspec.structs.replace(state, **changes)


_MESSAGES = {
    "submitted": "job submitted",
    "acknowledged": "agent received the job",
    "started": "agent started the operation",
    "completed": "operation completed",
    "failed": "operation failed",
    "skipped": "operation skipped: the host lacks what it needs",
    "retried": "job delivered again",
    "cancelled": "operation cancelled",
    "timeout": "no answer before the deadline",
    "batch_started": "rollout batch started",
}
