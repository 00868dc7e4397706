"""The runtime's decisions for one verified delivery: pure rules, every case."""

from __future__ import annotations

import pytest

from agent.decide import (
    CANCELLED_ERROR,
    OUTCOME_UNKNOWN,
    Delivery,
    Finish,
    Reemit,
    Refuse,
    Run,
    check_time,
    decide,
)
from agent.journal import RUNNING, TERMINAL, Entry, cancelled_entry
from common.messages import JobSpec, Operation

NOW = 10_000.0
SPEC = JobSpec(
    job_id="job-1",
    operation=Operation(type="test.counter", data={"path": "/tmp/x"}),
    target="web-1",
    issued_at=NOW - 1,
    deadline=NOW + 59,
    timeout=60,
)


def delivery(seq: int = 5, delivered: int = 1, read_only: bool = False) -> Delivery:
    return Delivery(spec=SPEC, seq=seq, delivered=delivered, read_only=read_only)


def entry(state: str, seq: int | None = 5, terminal: bytes | None = None) -> Entry:
    return Entry("job-1", state, seq, 1, terminal, False)


def rule(d: Delivery, e: Entry | None, now: float = NOW) -> object:
    return decide(d, e, now, max_deliveries=4, skew_tolerance=30.0)


def test_a_new_job_runs_once() -> None:
    assert rule(delivery(), None) == Run(attempt=1, retried=False)


def test_a_redelivered_finished_job_re_emits_its_stored_terminal_event() -> None:
    assert rule(delivery(delivered=2), entry(TERMINAL, terminal=b"ev")) == Reemit(b"ev")


def test_a_side_effect_running_when_the_agent_died_ends_outcome_unknown() -> None:
    assert rule(delivery(delivered=2), entry(RUNNING)) == Finish("failed", OUTCOME_UNKNOWN, 2)


def test_a_read_only_job_running_when_the_agent_died_is_retried() -> None:
    assert rule(delivery(delivered=2, read_only=True), entry(RUNNING)) == Run(2, retried=True)


def test_a_finished_job_arriving_as_a_new_message_is_a_replay_and_re_emits() -> None:
    assert rule(delivery(seq=99), entry(TERMINAL, terminal=b"ev")) == Reemit(
        b"ev", refusal="replayed"
    )


def test_an_unfinished_job_arriving_as_a_new_message_is_refused_as_a_replay() -> None:
    decision = rule(delivery(seq=99), entry(RUNNING))
    assert isinstance(decision, Refuse)
    assert decision.reason == "replayed"


def test_a_job_cancelled_before_it_arrived_is_not_run() -> None:
    assert rule(delivery(), cancelled_entry("job-1")) == Finish("cancelled", CANCELLED_ERROR, 1)


def test_too_many_deliveries_end_failed_with_the_count() -> None:
    decision = rule(delivery(delivered=5, read_only=True), None)
    assert decision == Finish(
        "failed", "gave up after 4 delivery attempts", 5, refusal="max_deliveries"
    )


def test_outcome_unknown_wins_over_max_deliveries_for_a_side_effect() -> None:
    assert rule(delivery(delivered=5), entry(RUNNING)) == Finish("failed", OUTCOME_UNKNOWN, 5)


def test_an_expired_job_is_refused_with_a_reason() -> None:
    decision = rule(delivery(), None, now=SPEC.deadline + 5)
    assert isinstance(decision, Finish)
    assert decision.refusal == "expired"
    assert "expired 5.0s" in decision.error


@pytest.mark.parametrize("skew", [600.0, -600.0])
def test_a_clock_ten_minutes_off_is_named_clock_skew(skew: float) -> None:
    decision = rule(delivery(), None, now=NOW + skew)
    assert isinstance(decision, Finish)
    assert decision.refusal == "clock_skew"
    assert "clock skew" in decision.error


def test_small_skew_within_the_tolerance_still_runs() -> None:
    assert check_time(SPEC, NOW - 20, 30.0) is None
    assert check_time(SPEC, SPEC.deadline - 0.1, 30.0) is None
