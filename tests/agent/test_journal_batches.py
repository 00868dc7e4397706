"""Group commit in the on-disk journal: calls share transactions, each still keeps its promise."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.journal import _WORKER, RUNNING, TERMINAL, Journal, journal_file
from agent.journal_seen import Seen
from agent.journal_store import SqliteStore

Calls = Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]


def count_batches(journal: Journal) -> list[int]:
    """Record the size of every batch the journal's store runs."""
    store = journal._store
    assert isinstance(store, SqliteStore)
    sizes: list[int] = []
    run = store.run

    def counted(calls: Calls, durable: bool) -> Any:
        sizes.append(len(calls))
        return run(calls, durable)

    store.run = counted  # type: ignore[method-assign]
    return sizes


def stored(path: str, job_id: str) -> tuple[Any, ...] | None:
    """The row as another connection sees it: committed, not just queued."""
    with sqlite3.connect(path) as db:
        row: tuple[Any, ...] | None = db.execute(
            "SELECT state, seq, terminal FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
    return row


async def test_concurrent_calls_share_batches_and_each_is_committed_on_return(
    tmp_path: Path,
) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    sizes = count_batches(journal)

    async def one(i: int) -> None:
        await journal.begin(f"job-{i}", seq=i, attempt=1, durable=True)
        await journal.finish(f"job-{i}", i, 1, f"event-{i}".encode())
        assert stored(path, f"job-{i}") == (TERMINAL, i, f"event-{i}".encode())

    await asyncio.gather(*(one(i) for i in range(20)))
    assert sum(sizes) == 40
    assert len(sizes) < 40  # calls queued behind a batch in flight ran together
    journal.close()


async def test_a_read_only_mark_is_not_awaited_yet_seen_by_the_next_call_and_kept(
    tmp_path: Path,
) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    # Hold the worker thread so the mark cannot be written yet.
    release = threading.Event()
    held = _WORKER.submit(release.wait)
    await journal.begin("job-1", seq=4, attempt=1, durable=False)
    assert stored(path, "job-1") is None  # returned before it was written
    reading = asyncio.ensure_future(journal.get("job-1"))
    release.set()
    held.result()
    entry = await reading
    assert entry is not None
    assert (entry.state, entry.seq) == (RUNNING, 4)
    await journal.begin("job-2", seq=5, attempt=1, durable=False)
    journal.close()  # writes what is still queued
    entry = await Journal(path).get("job-2")
    assert entry is not None
    assert entry.state == RUNNING


async def test_a_read_only_terminal_entry_is_not_awaited_yet_seen_by_the_next_call(
    tmp_path: Path,
) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    release = threading.Event()
    held = _WORKER.submit(release.wait)  # the worker is busy: nothing can be written
    await journal.begin("job-1", seq=4, attempt=1, durable=False)
    await journal.finish("job-1", 4, 1, b"terminal", durable=False)
    assert stored(path, "job-1") is None  # both returned before being written
    reading = asyncio.ensure_future(journal.get("job-1"))
    release.set()
    held.result()
    entry = await reading  # behind both writes in the queue
    assert entry is not None
    assert (entry.state, entry.terminal) == (TERMINAL, b"terminal")
    assert stored(path, "job-1") == (TERMINAL, 4, b"terminal")


async def test_a_failing_call_fails_its_whole_batch_and_commits_none_of_it(
    tmp_path: Path,
) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    results = await asyncio.gather(
        journal.count(),  # runs alone; the two below queue behind it
        journal.finish("job-ok", 1, 1, b"fine"),
        journal.finish("job-bad", 2, 1, object()),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert results[0] == 0
    assert isinstance(results[1], sqlite3.Error)
    assert isinstance(results[2], sqlite3.Error)
    assert stored(path, "job-ok") is None
    await journal.finish("job-ok", 1, 1, b"fine")  # the journal still works
    assert stored(path, "job-ok") == (TERMINAL, 1, b"fine")
    journal.close()


@pytest.mark.parametrize("durable", [True, False])
async def test_a_batch_restores_normal_sync_after_a_durable_commit(
    tmp_path: Path, durable: bool
) -> None:
    store = SqliteStore(str(tmp_path / "j.sqlite3"))
    now = 1.0
    store.run([(store.begin, ("a", 1, 1, now)), (store.finish, ("a", 1, 1, b"x", now))], durable)
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store.get("a") is not None
    store.close()


def test_the_filter_never_forgets_an_id_and_rarely_claims_an_unknown_one() -> None:
    table = [str(uuid.uuid4()) for _ in range(5000)]
    seen = Seen.of(iter(table), len(table), max_entries=100_000)
    assert (seen.fresh, seen.capacity) == (0, 5000)
    known = [str(uuid.uuid4()) for _ in range(6000)]  # more than its capacity
    for job_id in known:
        seen.add(job_id)
    assert all(seen.maybe(job_id) for job_id in table + known)
    assert seen.stale
    false_maybes = sum(seen.maybe(str(uuid.uuid4())) for _ in range(10_000))
    assert false_maybes < 500  # about 1 % expected


async def test_a_job_never_written_is_answered_without_a_trip_to_the_worker(
    tmp_path: Path,
) -> None:
    journal = Journal(journal_file(str(tmp_path), "web-1"))
    sizes = count_batches(journal)
    assert await journal.get("never-seen") is None
    assert sizes == []
    await journal.begin("job-1", seq=1, attempt=1, durable=False)
    assert (await journal.get("job-1")) is not None
    journal.close()


async def test_ids_written_while_a_fresh_filter_is_built_are_still_found(tmp_path: Path) -> None:
    journal = Journal(journal_file(str(tmp_path), "web-1"), max_entries=4)
    first = journal._seen
    # Concurrent writes: the rebuild is queued among them, some land after it.
    await asyncio.gather(
        *(journal.finish(f"job-{i}", i, 1, b"x") for i in range(10)),
        *(journal.begin(f"run-{i}", 100 + i, 1, durable=False) for i in range(10)),
    )
    for i in range(10):
        assert await journal.get(f"job-{i}") is not None
        assert await journal.get(f"run-{i}") is not None
    assert journal._seen is not first  # rebuilt at least once
    assert await journal.get("never-seen") is None
    journal.close()


async def test_writes_nobody_awaits_wait_for_company_and_a_lookup_flushes_them(
    tmp_path: Path,
) -> None:
    """Posted writes of jobs arriving one after another share one hand-off."""
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    sizes = count_batches(journal)
    for i in range(10):
        await journal.begin(f"job-{i}", seq=i, attempt=1, durable=False)
        await asyncio.sleep(0)  # one loop iteration per job, as deliveries come
    assert sizes == []  # none handed to the worker yet
    entry = await journal.get("job-9")  # a lookup goes behind them, at once
    assert entry is not None
    assert entry.state == RUNNING
    assert sizes == [11]  # ten posted writes and the lookup: one batch
    assert stored(path, "job-0") == (RUNNING, 0, None)
    journal.close()


async def test_posted_writes_reach_the_disk_without_any_lookup(tmp_path: Path) -> None:
    path = journal_file(str(tmp_path), "web-1")
    journal = Journal(path)
    store = journal._store
    assert isinstance(store, SqliteStore)
    ran = threading.Event()
    run = store.run

    def signalled(calls: Calls, durable: bool) -> Any:
        try:
            return run(calls, durable)
        finally:
            ran.set()

    store.run = signalled  # type: ignore[method-assign]
    await journal.finish("job-1", 1, 1, b"event", durable=False)
    assert await asyncio.to_thread(ran.wait, 30.0), "the delayed hand-off never came"
    assert stored(path, "job-1") == (TERMINAL, 1, b"event")
    journal.close()
