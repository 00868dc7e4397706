"""The job detail has exactly the seed's fields and the documented semantics."""

from __future__ import annotations

from typing import Any

import msgspec

from common.detail import DETAIL_ENCODER, render
from common.fold import fold_all
from common.job import CONTROLLER, JobMeta
from common.messages import (
    Acknowledged,
    BatchStarted,
    Completed,
    Event,
    Failed,
    Operation,
    Skipped,
    Submitted,
    TimedOut,
    event_id,
)
from common.rollout import Rollout

JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
SEED_FIELDS = {
    "id",
    "status",
    "created",
    "operation",
    "result",
    "changed",
    "error",
    "hostname",
    "updated_at",
    "responses",
    "agent_states",
    "timeline",
}


def meta(target: str, expected: list[str] | None, single: bool) -> JobMeta:
    return JobMeta(
        id=JOB,
        operation=Operation(type="test.echo", data={"data": 1}),
        target=target,
        created=1000.0,
        deadline=1030.0,
        timeout=30.0,
        expected=expected,
        single=single,
    )


def ev(kind: type[Event], host: str, ts: float, **fields: Any) -> Event:
    tag = str(kind.__struct_config__.tag)
    return kind(
        event_id=event_id(JOB, host, 1, tag), job_id=JOB, hostname=host, timestamp=ts, **fields
    )


def as_json(detail: object) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(DETAIL_ENCODER.encode(detail))
    return result


def test_detail_has_exactly_the_seed_fields() -> None:
    detail = as_json(render(meta("_any", None, True), fold_all([]), "submitted"))
    assert set(detail) == SEED_FIELDS
    assert detail["changed"] is None
    assert detail["created"] == "1970-01-01T00:16:40.000Z"


def test_a_dry_run_says_so_inside_operation_and_nowhere_else() -> None:
    dry = msgspec.structs.replace(meta("_any", None, True), dry_run=True)
    detail = as_json(render(dry, fold_all([]), "submitted"))
    assert set(detail) == SEED_FIELDS
    assert detail["operation"] == {"type": "test.echo", "data": {"data": 1}, "dry_run": True}
    plain = as_json(render(meta("_any", None, True), fold_all([]), "submitted"))
    assert plain["operation"] == {"type": "test.echo", "data": {"data": 1}}


def test_single_target_completed_fills_result_hostname_changed() -> None:
    events = [
        ev(Submitted, "controller", 1000.0),
        ev(Acknowledged, "web-1", 1000.1),
        ev(Completed, "web-1", 1000.2, result={"x": 1}, changed=False),
    ]
    detail = as_json(render(meta("web-1", ["web-1"], True), fold_all(events), "completed"))
    assert detail["result"] == {"x": 1}
    assert detail["hostname"] == "web-1"
    assert detail["changed"] is False
    assert detail["error"] is None
    assert detail["responses"] == {
        "web-1": {
            "status": "completed",
            "data": {"x": 1},
            "changed": False,
            "error": None,
            "hostname": "web-1",
        }
    }
    assert [t["event"] for t in detail["timeline"]] == ["submitted", "acknowledged", "completed"]


def test_broadcast_partial_failure_reports_timeouts_and_any_changed() -> None:
    hosts = ["a", "b", "c"]
    events = [
        ev(Completed, "a", 1001.0, result=1, changed=True),
        ev(Failed, "b", 1001.0, error="boom"),
        ev(TimedOut, "c", 1031.0, error="no answer before the deadline"),
    ]
    detail = as_json(render(meta("_all", hosts, False), fold_all(events), "partial_failure"))
    states = detail["agent_states"]
    assert isinstance(states, dict)
    assert {h: s["status"] for h, s in states.items()} == {
        "a": "completed",
        "b": "failed",
        "c": "timeout",
    }
    assert detail["changed"] is True
    assert detail["result"] is None
    assert detail["hostname"] is None
    assert "2 of 3 agents did not complete" in str(detail["error"])
    assert set(detail["responses"]) == {"a", "b"}


def test_skipped_agents_are_left_out_of_the_count_and_the_error_says_so() -> None:
    from controller.upkeep.finalize import decide_status

    hosts = ["a", "b", "c"]
    events = [
        ev(Completed, "a", 1001.0, result=1),
        ev(Failed, "b", 1001.0, error="boom"),
        ev(Skipped, "c", 1001.0, error="no systemd"),
    ]
    job = meta("_all", hosts, False)
    record = fold_all(events)
    assert decide_status(job, record) == "partial_failure"
    detail = as_json(render(job, record, "partial_failure"))
    assert detail["error"] == "1 of 2 agents did not complete, 1 skipped: b: boom"
    assert detail["responses"]["c"] == {
        "status": "skipped",
        "data": None,
        "changed": None,
        "error": "no systemd",
        "hostname": "c",
    }


def test_pending_expected_agents_show_as_pending() -> None:
    detail = as_json(
        render(
            meta("_all", ["a", "b"], False), fold_all([ev(Acknowledged, "a", 1000.5)]), "processing"
        )
    )
    states = detail["agent_states"]
    assert isinstance(states, dict)
    assert states["a"]["status"] == "acknowledged"
    assert states["b"]["status"] == "pending"
    assert detail["changed"] is None


def test_failed_single_job_has_null_changed_and_the_error() -> None:
    events = [ev(Failed, "web-1", 1001.0, error="requested failure")]
    detail = as_json(render(meta("web-1", ["web-1"], True), fold_all(events), "failed"))
    assert detail["changed"] is None
    assert detail["error"] == "requested failure"
    assert detail["result"] is None


ROLLED = [f"r{i}" for i in range(6)]


def rollout_meta() -> JobMeta:
    return msgspec.structs.replace(
        meta("_all", list(reversed(ROLLED)), False),
        rollout=Rollout(batch_size="33%", max_failures=1),  # 1.98 rounds up to 2: 3 batches
    )


def batch(n: int, ts: float) -> Event:
    return BatchStarted(
        event_id=event_id(JOB, CONTROLLER, n, "batch_started"),
        job_id=JOB,
        hostname=CONTROLLER,
        timestamp=ts,
        attempt=n,
        message=f"batch {n} of 3 started",
    )


def rollout_of(events: list[Event], status: str) -> dict[str, Any]:
    detail = as_json(render(rollout_meta(), fold_all(events), status))
    assert set(detail) == SEED_FIELDS
    shown: dict[str, Any] = detail["operation"]["rollout"]
    return shown


def test_a_rollout_is_shown_inside_operation_with_its_progress() -> None:
    shown = rollout_of([], "submitted")
    assert shown == {
        "batch_size": "33%",
        "pause": 0.0,
        "max_failures": 1,
        "max_concurrency": None,
        "progress": {"batch": 0, "of": 3, "state": "running"},
    }
    first = [batch(1, 1001.0), ev(Completed, "r0", 1002.0)]
    assert rollout_of(first, "processing")["progress"] == {"batch": 1, "of": 3, "state": "running"}
    answered = [*first, ev(Completed, "r1", 1003.0)]
    assert rollout_of(answered, "processing")["progress"]["state"] == "paused"
    second = [*answered, batch(2, 1004.0)]
    assert rollout_of(second, "processing")["progress"] == {
        "batch": 2,
        "of": 3,
        "state": "running",
    }
    assert rollout_of(second, "cancelled")["progress"]["state"] == "cancelled"
    assert rollout_of([*second, batch(3, 1005.0)], "completed")["progress"]["state"] == "done"


def test_a_rollout_that_skipped_agents_it_never_sent_to_is_stopped() -> None:
    never_sent = Skipped(
        event_id=event_id(JOB, "r5", 0, "skipped"),
        job_id=JOB,
        hostname="r5",
        timestamp=1005.0,
        attempt=0,
        error="rollout stopped after 2 failures",
    )
    events = [batch(1, 1001.0), ev(Failed, "r0", 1002.0), ev(Failed, "r1", 1003.0), never_sent]
    assert rollout_of(events, "processing")["progress"] == {"batch": 1, "of": 3, "state": "stopped"}
    # Ended by its deadline before its last batch: stopped too.
    assert rollout_of([batch(1, 1001.0)], "failed")["progress"]["state"] == "stopped"
