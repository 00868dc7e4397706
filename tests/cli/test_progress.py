"""What ``corral job watch`` knows of a job from its live events, and its plain lines."""

from __future__ import annotations

from datetime import UTC, datetime

from cli.progress import JobProgress, Running, exit_code, plain_lines
from common.detail import AgentStateView, JobDetail, ShownOperation, TimelineItem
from corral_sdk.sse import AgentChange, Final, Progress, Snapshot

JOB = "5f0c6a4e-0000-4000-8000-000000000001"
CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def stamp(seconds_after_created: float) -> str:
    moment = datetime.fromtimestamp(CREATED + seconds_after_created, UTC)
    return moment.isoformat().replace("+00:00", "Z")


def state(
    status: str, *, started: float | None = None, error: str | None = None, expected: bool = True
) -> AgentStateView:
    return AgentStateView(
        status=status,
        error=error,
        duration=None,
        attempt=0 if status == "pending" else 1,
        acknowledged_at=None if started is None else stamp(started),
        started_at=None if started is None else stamp(started),
        finished_at=None,
        late=False,
        expected=expected,
    )


def detail(status: str, states: dict[str, AgentStateView]) -> JobDetail:
    return JobDetail(
        id=JOB,
        status=status,
        created=stamp(0),
        operation=ShownOperation(type="test.sleep", data={"seconds": 3}),
        result=None,
        changed=None,
        error=None,
        hostname=None,
        updated_at=stamp(0),
        responses={},
        agent_states=states,
        timeline=[],
    )


def moved(event_id: int, hostname: str, view: AgentStateView) -> Progress:
    entry = TimelineItem(
        timestamp=stamp(1), event=view.status, hostname=hostname, message="", error=view.error
    )
    return Progress(id=event_id, entry=entry, agent=AgentChange(hostname=hostname, state=view))


THREE_PENDING = {h: state("pending") for h in ("db-1", "web-1", "web-2")}


def test_progress_counts_finished_agents_out_of_expected_by_status() -> None:
    progress = JobProgress(JOB)
    assert progress.take(Snapshot(id=1, detail=detail("submitted", THREE_PENDING))) == [
        "db-1",
        "web-1",
        "web-2",
    ]
    assert (progress.expected, progress.finished, progress.operation) == (3, 0, "test.sleep")
    assert progress.take(moved(2, "web-1", state("started", started=1))) == ["web-1"]
    assert progress.take(moved(3, "db-1", state("completed", started=1))) == ["db-1"]
    assert progress.status == "processing"
    counts = progress.counts()
    assert (counts["pending"], counts["started"], counts["completed"]) == (1, 1, 1)
    assert "retried" not in counts  # shown only when some agent is
    assert progress.summary().startswith("1/3 finished: pending=1 acknowledged=0 started=1")
    assert progress.last_id == 3


def test_an_event_that_moves_no_agent_changes_nothing() -> None:
    progress = JobProgress(JOB)
    progress.take(Snapshot(id=4, detail=detail("processing", THREE_PENDING)))
    again = moved(5, "web-2", state("pending"))
    assert progress.take(again) == []
    controller = Progress(id=6, entry=again.entry, agent=None)
    assert progress.take(controller) == []
    assert progress.last_id == 6  # resumes after it all the same


def test_slowest_lists_unfinished_agents_longest_first() -> None:
    progress = JobProgress(JOB)
    states = {
        "db-1": state("completed", started=0),
        "web-1": state("started", started=2),
        "web-2": state("acknowledged", started=1),
        "web-3": state("pending"),
    }
    progress.take(Snapshot(id=1, detail=detail("processing", states)))
    assert progress.slowest(now=CREATED + 5) == [
        Running("web-3", "pending", 5.0),  # pending since the job was created
        Running("web-2", "acknowledged", 4.0),
        Running("web-1", "started", 3.0),
    ]
    assert progress.slowest(now=CREATED + 5, limit=1) == [Running("web-3", "pending", 5.0)]
    assert progress.slowest(now=CREATED - 10)[0].seconds == 0.0  # a clock behind: not negative


def test_an_any_job_expects_one_agent_before_one_takes_it() -> None:
    progress = JobProgress(JOB)
    progress.take(Snapshot(id=1, detail=detail("submitted", {})))
    assert (progress.expected, progress.finished) == (1, 0)
    progress.take(moved(2, "web-1", state("completed", started=1)))
    assert (progress.expected, progress.finished) == (1, 1)


def test_agents_not_expected_are_shown_running_but_not_counted() -> None:
    progress = JobProgress(JOB)
    states = {"web-1": state("completed"), "late-1": state("started", expected=False)}
    progress.take(Snapshot(id=1, detail=detail("processing", states)))
    assert (progress.expected, progress.finished) == (1, 1)
    assert [r.hostname for r in progress.slowest(now=CREATED)] == ["late-1"]


def test_plain_lines_say_one_line_per_change_then_the_final_status() -> None:
    progress = JobProgress(JOB)
    snapshot = Snapshot(id=1, detail=detail("submitted", THREE_PENDING))
    lines = plain_lines(progress, progress.take(snapshot), snapshot)
    assert lines == [f"job {JOB} test.sleep submitted, {progress.summary()}"]
    failed = moved(2, "web-2", state("failed", error="boom"))
    assert plain_lines(progress, progress.take(failed), failed) == [
        "web-2 failed (boom); 1/3 finished"
    ]
    finished = {**THREE_PENDING, "db-1": state("completed"), "web-1": state("completed")}
    finished["web-2"] = state("failed", error="boom")
    final = Final(id=3, detail=detail("partial_failure", finished))
    assert plain_lines(progress, progress.take(final), final) == [
        "db-1 completed; 3/3 finished",
        "web-1 completed; 3/3 finished",
        f"job {JOB} test.sleep partial_failure, 3/3 finished: pending=0 acknowledged=0"
        " started=0 completed=2 failed=1 skipped=0 cancelled=0 timeout=0",
    ]
    assert progress.final is final.detail


def test_a_job_final_before_the_watch_prints_only_its_final_line() -> None:
    progress = JobProgress(JOB)
    done = detail("completed", {"web-1": state("completed")})
    snapshot, final = Snapshot(id=2, detail=done), Final(id=2, detail=done)
    assert plain_lines(progress, progress.take(snapshot), snapshot) == []
    assert plain_lines(progress, progress.take(final), final) == [
        f"job {JOB} test.sleep completed, {progress.summary()}"
    ]


def test_exit_code_is_zero_only_for_a_completed_job() -> None:
    assert exit_code("completed") == 0
    assert {exit_code(s) for s in ("failed", "partial_failure", "cancelled")} == {1}
