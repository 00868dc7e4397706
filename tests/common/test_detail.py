"""The job detail has exactly the seed's fields and the documented semantics."""

from __future__ import annotations

from typing import Any

import msgspec

from common.detail import DETAIL_ENCODER, render
from common.fold import fold_all
from common.job import JobMeta
from common.messages import (
    Acknowledged,
    Completed,
    Event,
    Failed,
    Operation,
    Skipped,
    Submitted,
    TimedOut,
    event_id,
)

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
