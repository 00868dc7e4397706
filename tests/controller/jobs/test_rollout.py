"""A rollout's next step, decided from its stored state alone. Pure."""

from __future__ import annotations

import math
from typing import Any

from common.job import JobMeta
from common.messages import Operation
from common.rollout import Rollout
from controller.jobs.rollout import LOOK_AGAIN, RESEND_AFTER, plan
from controller.store.rollouts import Claim, RolloutState

HOSTS = [f"h{i}" for i in range(6)]
NOW = 1000.0


def state(rollout: Rollout, status: str = "processing", **fields: Any) -> RolloutState:
    meta = JobMeta(
        id="job",
        operation=Operation(type="test.ping"),
        target="_all",
        created=900.0,
        deadline=2000.0,
        timeout=1100.0,
        expected=list(reversed(HOSTS)),
        single=False,
        rollout=rollout,
    )
    values: dict[str, Any] = dict(
        batch=0, claims={}, acked=frozenset(), finished={}, stopped=None, terminal={}
    )
    values.update(fields)
    return RolloutState(meta=meta, status=status, sealed=None, **values)


def sent(*hosts: str, batch: int = 1, at: float = NOW) -> dict[str, Claim]:
    return {h: Claim(batch, at) for h in hosts}


def test_the_first_batch_goes_to_the_first_hosts_in_sorted_order() -> None:
    step = plan(state(Rollout(batch_size=2)), NOW)
    assert (step.batch, step.new_batch, step.send) == (1, True, ["h0", "h1"])
    assert step.look_at == NOW + LOOK_AGAIN


def test_a_batch_in_flight_waits_and_sends_nothing() -> None:
    running = state(
        Rollout(batch_size=2), batch=1, claims=sent("h0", "h1"), acked=frozenset({"h0", "h1"})
    )
    step = plan(running, NOW)
    assert (step.send, step.resend, step.new_batch) == ([], [], False)


def test_max_concurrency_sends_a_batch_as_earlier_hosts_finish() -> None:
    rollout = Rollout(batch_size=3, max_concurrency=2)
    assert plan(state(rollout), NOW).send == ["h0", "h1"]
    one_done = state(
        rollout,
        batch=1,
        claims=sent("h0", "h1"),
        acked=frozenset({"h0", "h1"}),
        terminal={"h0": "completed"},
    )
    step = plan(one_done, NOW)
    assert (step.batch, step.new_batch, step.send) == (1, False, ["h2"])


def test_the_next_batch_waits_for_the_pause_after_the_last_answer() -> None:
    rollout = Rollout(batch_size=2, pause=30)
    done: dict[str, Any] = {
        "claims": sent("h0", "h1"),
        "terminal": {"h0": "completed", "h1": "completed"},
    }
    first_look = plan(state(rollout, batch=1, **done), NOW)
    assert (first_look.finished, first_look.send, first_look.look_at) == (1, [], NOW + 30)
    noted = state(rollout, batch=1, finished={1: NOW}, **done)
    assert plan(noted, NOW + 29).send == []
    step = plan(noted, NOW + 30)
    assert (step.batch, step.new_batch, step.send, step.finished) == (2, True, ["h2", "h3"], 0)


def test_without_a_pause_the_next_batch_starts_at_once() -> None:
    done: dict[str, Any] = {
        "claims": sent("h0", "h1"),
        "terminal": {"h0": "completed", "h1": "skipped"},
    }
    step = plan(state(Rollout(batch_size=2), batch=1, **done), NOW)
    assert (step.finished, step.batch, step.send) == (1, 2, ["h2", "h3"])


def test_failures_beyond_the_limit_stop_what_was_not_sent() -> None:
    rollout = Rollout(batch_size=2, max_failures=1)
    one = {"h0": "failed", "h1": "completed", "h2": "completed"}
    claims = sent("h0", "h1") | sent("h2", "h3", batch=2)
    assert plan(state(rollout, batch=2, claims=claims, terminal=one), NOW).stop == []
    two = {**one, "h3": "timeout"}
    step = plan(state(rollout, batch=2, claims=claims, terminal=two), NOW)
    assert (step.stop, step.failures, step.send) == (["h4", "h5"], 2, [])


def test_a_failure_share_is_of_the_expected_set() -> None:
    rollout = Rollout(batch_size=2, max_failures="20%")  # 1.2 of 6: one failure allowed
    claims = sent("h0", "h1")
    one = plan(state(rollout, batch=1, claims=claims, terminal={"h0": "failed"}), NOW)
    assert one.stop == []
    both = plan(
        state(rollout, batch=1, claims=claims, terminal=dict.fromkeys(claims, "failed")), NOW
    )
    assert both.stop == ["h2", "h3", "h4", "h5"]


def test_a_stopped_rollout_only_finishes_skipping_what_it_claimed() -> None:
    claims = sent("h0", "h1") | {h: Claim(0, 0.0, stopped=True) for h in HOSTS[2:]}
    terminal = {"h0": "failed", "h1": "failed", "h2": "skipped"}
    step = plan(
        state(Rollout(batch_size=2), batch=1, claims=claims, terminal=terminal, stopped=2), NOW
    )
    assert (step.skip, step.failures, step.send, step.stop) == (["h3", "h4", "h5"], 2, [], [])


def test_a_host_claimed_but_never_acked_is_sent_again_after_a_while() -> None:
    claims = sent("h0", "h1", at=NOW - RESEND_AFTER)
    lost = state(Rollout(batch_size=2), batch=1, claims=claims, acked=frozenset({"h0"}))
    assert plan(lost, NOW).resend == ["h1"]
    assert plan(lost, NOW - 1).resend == []


def test_a_final_job_ends_its_rollout() -> None:
    for status in ("cancelled", "completed", "failed", "partial_failure"):
        step = plan(state(Rollout(batch_size=2), status=status, batch=1), NOW)
        assert step.over
        assert step.look_at == math.inf


def test_the_last_batch_waits_for_the_fold_to_end_the_job() -> None:
    claims = sent(*HOSTS[:4]) | sent("h4", "h5", batch=3)
    done = state(
        Rollout(batch_size=2), batch=3, claims=claims, terminal=dict.fromkeys(HOSTS, "completed")
    )
    step = plan(done, NOW)
    assert (step.over, step.send, step.finished) == (False, [], 0)
