"""The agent's job journal: durable across reopen, keyed by job id, bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.journal import CANCELLED, RUNNING, TERMINAL, Journal, journal_file


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Make = Callable[..., Journal]


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    """Both backends follow the same rules: in memory (swarms) and on disk."""
    path = journal_file(str(tmp_path / "j"), "web-1") if request.param == "sqlite" else ""

    def journal(**options: Any) -> Journal:
        return Journal(path, **options)

    return journal


def test_journal_file_is_per_hostname_and_empty_without_a_directory() -> None:
    assert journal_file("", "web-1") == ""
    assert journal_file("/var/lib/corral", "web-1.example.com") != journal_file(
        "/var/lib/corral", "web-1_example_com"
    )


async def test_running_then_terminal_survives_a_reopen(tmp_path: Path) -> None:
    path = journal_file(str(tmp_path / "j"), "web-1")
    journal = Journal(path)
    await journal.begin("job-1", seq=7, attempt=1, durable=True)
    entry = await journal.get("job-1")
    assert entry is not None
    assert (entry.state, entry.seq, entry.attempt) == (RUNNING, 7, 1)
    journal.close()

    reopened = Journal(path)
    assert (await reopened.get("job-1")).state == RUNNING  # type: ignore[union-attr]
    await reopened.finish("job-1", 7, 1, b"event-bytes")
    reopened.close()
    entry = await Journal(path).get("job-1")
    assert entry is not None
    assert (entry.state, entry.terminal, entry.seq) == (TERMINAL, b"event-bytes", 7)


async def test_unknown_jobs_are_absent(make: Make) -> None:
    assert await make().get("nope") is None


async def test_a_cancel_before_the_job_is_remembered_and_kept_through_begin(make: Make) -> None:
    journal = make()
    await journal.cancel("job-1")
    entry = await journal.get("job-1")
    assert entry is not None
    assert entry.cancelled
    assert entry.state == CANCELLED
    assert entry.seq is None
    await journal.begin("job-1", seq=3, attempt=1, durable=False)
    assert (await journal.get("job-1")).cancelled  # type: ignore[union-attr]


async def test_a_cancel_after_the_end_keeps_the_terminal_event(make: Make) -> None:
    journal = make()
    await journal.finish("job-1", 3, 1, b"done")
    await journal.cancel("job-1")
    entry = await journal.get("job-1")
    assert entry is not None
    assert entry.state == TERMINAL
    assert entry.terminal == b"done"


async def test_old_entries_are_pruned_after_the_retention(make: Make) -> None:
    clock = Clock()
    journal = make(retention=100.0, clock=clock)
    await journal.finish("old", 1, 1, b"x")
    clock.now += 50
    await journal.finish("new", 2, 1, b"y")
    clock.now += 60
    await journal.prune()
    assert await journal.get("old") is None
    assert await journal.get("new") is not None


async def test_the_journal_keeps_at_most_max_entries_newest_first(make: Make) -> None:
    clock = Clock()
    journal = make(max_entries=3, clock=clock)
    for i in range(5):
        clock.now += 1
        await journal.finish(f"job-{i}", i, 1, b"x")
    await journal.prune()
    assert await journal.count() == 3
    assert await journal.get("job-0") is None
    assert await journal.get("job-4") is not None


async def test_a_finish_after_a_cancel_keeps_the_cancel_and_the_seq(make: Make) -> None:
    journal = make()
    await journal.begin("job-1", seq=5, attempt=1, durable=True)
    await journal.cancel("job-1")
    await journal.finish("job-1", None, 2, b"ended")
    entry = await journal.get("job-1")
    assert entry is not None
    assert (entry.state, entry.seq, entry.attempt, entry.cancelled) == (TERMINAL, 5, 2, True)


async def test_journals_on_disk_share_one_worker_thread(tmp_path: Path) -> None:
    before = threading.active_count()
    journals = [Journal(journal_file(str(tmp_path), f"web-{i}")) for i in range(20)]
    for journal in journals:
        await journal.begin("job-1", seq=1, attempt=1, durable=False)
    assert threading.active_count() <= before + 1
    for journal in journals:
        journal.close()


async def test_a_consumer_position_is_kept_per_consumer_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    assert await journal.position("agent-web-1") is None
    journal.save_position("agent-web-1", "2026-11-29T10:00:00+00:00", 41)
    journal.save_position("agent-web-1", "2026-11-29T10:00:00+00:00", 57)
    journal.save_position("agent-other", "2026-11-29T10:00:00+00:00", 3)
    journal.close()
    reopened = Journal(path)
    assert await reopened.position("agent-web-1") == ("2026-11-29T10:00:00+00:00", 57)
    assert await reopened.position("agent-other") == ("2026-11-29T10:00:00+00:00", 3)
    reopened.close()


async def test_a_saved_position_is_read_back_at_once(make: Make) -> None:
    journal = make()
    journal.save_position("agent-web-1", "stream", 9)
    assert await journal.position("agent-web-1") == ("stream", 9)
