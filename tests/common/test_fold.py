"""The fold is a merge: any order, any duplication, same record."""

from __future__ import annotations

from functools import reduce
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.fold import EMPTY, fold, fold_all
from common.messages import (
    Acknowledged,
    Cancelled,
    Completed,
    Event,
    Failed,
    Retried,
    Started,
    Submitted,
    TimedOut,
    event_id,
)

JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HOSTS = ["web-1.dev.local", "web-2.dev.local", "db-1.dev.local"]


def make(kind: type[Event], host: str, attempt: int, ts: float, **fields: Any) -> Event:
    tag = kind.__struct_config__.tag
    return kind(
        event_id=event_id(JOB, host, attempt, str(tag)),
        job_id=JOB,
        hostname=host,
        timestamp=ts,
        attempt=attempt,
        **fields,
    )


@st.composite
def agent_histories(draw: st.DrawFn) -> list[Event]:
    """Realistic per-agent histories: each event id has exactly one content."""
    events: list[Event] = [make(Submitted, "controller", 0, 0.0)]
    for host in draw(st.lists(st.sampled_from(HOSTS), unique=True, max_size=3)):
        attempts = draw(st.integers(min_value=1, max_value=3))
        ts = draw(st.floats(min_value=0.001, max_value=10.0))
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                events.append(make(Retried, host, attempt, ts))
            events.append(make(Acknowledged, host, attempt, ts + 0.1))
            events.append(make(Started, host, attempt, ts + 0.2))
            ts += 1.0
        ending = draw(
            st.sampled_from(["completed", "failed", "none", "timeout", "cancelled", "cancel"])
        )
        if ending == "cancel" or draw(st.booleans()):
            # The controller's cancel for this agent: attempt 0, any time.
            cancel_ts = draw(st.floats(min_value=0.0, max_value=30.0))
            events.append(make(Cancelled, host, 0, cancel_ts, error="cancelled by request"))
        if ending == "completed":
            events.append(
                make(
                    Completed,
                    host,
                    attempts,
                    ts,
                    result={"n": attempts},
                    changed=draw(st.booleans()),
                    duration=0.5,
                )
            )
        elif ending == "failed":
            events.append(make(Failed, host, attempts, ts, error="boom", duration=0.5))
        elif ending == "timeout":
            events.append(make(TimedOut, host, 0, 20.0, error="no answer"))
        elif ending == "cancelled":
            events.append(make(Cancelled, host, attempts, ts, error="cancelled by request"))
    if draw(st.booleans()):
        # The job-level cancel marker.
        events.append(make(Cancelled, "controller", 0, draw(st.floats(0.0, 30.0))))
    return events


@st.composite
def shuffled_with_duplicates(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    events = draw(agent_histories())
    extra = draw(st.lists(st.sampled_from(events), max_size=10))
    mixed = draw(st.permutations(events + extra))
    return events, mixed


def fold_each(events: list[Event]) -> object:
    return reduce(fold, events, EMPTY)


@settings(max_examples=300)
@given(shuffled_with_duplicates())
def test_fold_is_order_and_duplicate_insensitive(pair: tuple[list[Event], list[Event]]) -> None:
    events, mixed = pair
    assert fold_each(mixed) == fold_each(events)


@settings(max_examples=200)
@given(shuffled_with_duplicates())
def test_fold_all_equals_one_by_one_fold(pair: tuple[list[Event], list[Event]]) -> None:
    events, mixed = pair
    assert fold_all(mixed) == fold_each(events)


@settings(max_examples=200)
@given(shuffled_with_duplicates(), st.integers(min_value=0, max_value=40))
def test_fold_is_associative_over_any_split(
    pair: tuple[list[Event], list[Event]], cut: int
) -> None:
    events, mixed = pair
    cut = min(cut, len(mixed))
    assert fold_all(mixed[cut:], fold_all(mixed[:cut])) == fold_all(events)


def test_fold_keeps_completed_when_started_arrives_late() -> None:
    host = HOSTS[0]
    done = make(Completed, host, 1, 3.0, result=1, changed=True)
    late_start = make(Started, host, 1, 2.0)
    record = fold(fold(EMPTY, done), late_start)
    state = record.agents[host]
    assert state.status == "completed"
    assert state.started_at == 2.0
    assert state.changed is True


def test_fold_counts_a_duplicate_event_once() -> None:
    event = make(Acknowledged, HOSTS[0], 1, 1.0)
    once = fold(EMPTY, event)
    assert fold(once, event) is once
    assert len(once.timeline) == 1


def test_terminal_beats_a_later_attempts_progress() -> None:
    host = HOSTS[0]
    failed = make(Failed, host, 1, 2.0, error="boom")
    second = make(Acknowledged, host, 2, 5.0)
    state = fold_all([second, failed]).agents[host]
    assert state.status == "failed"
    assert state.attempt == 2


def test_real_answer_after_timeout_is_kept_and_flagged_late() -> None:
    host = HOSTS[1]
    timeout = make(TimedOut, host, 0, 10.0, error="no answer")
    answer = make(Completed, host, 1, 12.0, result="ok")
    state = fold_all([answer, timeout]).agents[host]
    assert state.status == "completed"
    assert state.late is True


def test_timeline_is_sorted_by_timestamp() -> None:
    events = [
        make(Started, HOSTS[0], 1, 2.0),
        make(Submitted, "controller", 0, 0.0),
        make(Acknowledged, HOSTS[0], 1, 1.0),
    ]
    kinds = [entry.event for entry in fold_all(events).timeline]
    assert kinds == ["submitted", "acknowledged", "started"]


def test_timeline_breaks_equal_timestamps_by_lifecycle_not_event_id() -> None:
    # Event ids sort acknowledged < completed < retried < started: the old order.
    host = HOSTS[0]
    events = [
        make(Retried, host, 2, 5.0),
        make(Completed, host, 1, 5.0, result={}),
        make(Started, host, 1, 5.0),
        make(Acknowledged, host, 1, 5.0),
        make(Submitted, "controller", 0, 5.0),
    ]
    expected = ["submitted", "acknowledged", "started", "completed", "retried"]
    assert [e.event for e in fold_all(events).timeline] == expected
    assert [e.event for e in reduce(fold, reversed(events), EMPTY).timeline] == expected


def test_controller_events_do_not_create_agent_state() -> None:
    record = fold_all(
        [
            make(Submitted, "controller", 0, 0.0),
            make(TimedOut, "controller", 0, 5.0, error="nobody"),
        ]
    )
    assert record.agents == {}
    assert [e.event for e in record.timeline] == ["submitted", "timeout"]


def test_cancel_by_request_ends_a_silent_agent_cancelled() -> None:
    host = HOSTS[0]
    record = fold_all(
        [
            make(Acknowledged, host, 1, 1.0),
            make(Cancelled, host, 0, 2.0, error="cancelled by request"),
            make(Cancelled, "controller", 0, 2.0, error="cancelled by request"),
        ]
    )
    state = record.agents[host]
    assert state.status == "cancelled"
    assert state.is_terminal
    assert not state.late
    assert record.cancel_requested_at == 2.0
    assert "controller" not in record.agents


def test_completion_after_cancel_is_kept_and_flagged_late() -> None:
    host = HOSTS[0]
    cancel = make(Cancelled, host, 0, 2.0, error="cancelled by request")
    done = make(Completed, host, 1, 3.0, result=1, changed=True)
    for order in ([cancel, done], [done, cancel]):
        state = reduce(fold, order, EMPTY).agents[host]
        assert state.status == "completed"
        assert state.late


def test_agents_own_cancel_is_not_late() -> None:
    host = HOSTS[0]
    record = fold_all(
        [
            make(Cancelled, host, 0, 2.0, error="cancelled by request"),
            make(Cancelled, host, 1, 2.5, error="cancelled by request"),
        ]
    )
    assert record.agents[host].status == "cancelled"
    assert not record.agents[host].late


def test_skipped_agents_leave_the_count_of_a_broadcast() -> None:
    from common.job import final_status

    assert final_status(3, completed=2, skipped=1) == "completed"
    assert final_status(3, completed=1, skipped=1) == "partial_failure"
    assert final_status(3, completed=0, skipped=1) == "failed"
    assert final_status(3, completed=0, skipped=3) == "failed"
    assert final_status(3, completed=3) == "completed"


def test_terminal_kinds_of_one_tier_never_share_a_rank() -> None:
    # The apply script keeps the first of two heads that tie on (tier,
    # attempt, rank, timestamp), the fold the greater event id: only kinds of
    # distinct ranks keep the two in agreement (a cancel and a skip written
    # by the controller at the same instant, both attempt 0).
    from common.fold import terminal_order
    from common.messages import TERMINAL_EVENTS

    orders = [terminal_order(kind) for kind in TERMINAL_EVENTS]
    assert len(set(orders)) == len(orders)
