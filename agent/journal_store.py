"""The journal's two backends: SQLite on disk, a dict in memory. I/O: SQLite.

Both follow the same rules (agent/journal.py says which and why); both are
synchronous. :class:`SqliteStore` is used from the journal worker thread
only, and runs queued calls as one transaction (:meth:`SqliteStore.run`).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from agent.journal_seen import Seen

RUNNING, TERMINAL, CANCELLED = "running", "terminal", "cancelled"
Call = tuple[Callable[..., Any], tuple[Any, ...]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id    TEXT PRIMARY KEY,
    state     TEXT NOT NULL,
    seq       INTEGER,
    attempt   INTEGER NOT NULL DEFAULT 0,
    terminal  BLOB,
    cancelled INTEGER NOT NULL DEFAULT 0,
    updated   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated);
CREATE TABLE IF NOT EXISTS positions (
    consumer TEXT PRIMARY KEY,
    stream   TEXT NOT NULL,
    floor    INTEGER NOT NULL
);
"""
Position = tuple[str, int]  # the jobs stream's creation time, the consumer's floor


@dataclass(frozen=True)
class Entry:
    """One job as the journal knows it."""

    job_id: str
    state: str  # running, terminal, or cancelled (cancel arrived, job not finished)
    seq: int | None  # stream sequence of the job message; None if only a cancel came
    attempt: int
    terminal: bytes | None  # the encoded terminal event, once known
    cancelled: bool


def cancelled_entry(job_id: str) -> Entry:
    """What the journal holds for a job known only from a cancel request."""
    return Entry(job_id, CANCELLED, None, 0, None, True)


class Store(Protocol):
    """The synchronous operations both backends provide; ``now`` is the journal's clock."""

    def get(self, job_id: str) -> Entry | None: ...
    def count(self) -> int: ...
    def begin(self, job_id: str, seq: int, attempt: int, now: float) -> None: ...
    def finish(
        self, job_id: str, seq: int | None, attempt: int, event: bytes, now: float
    ) -> None: ...
    def cancel(self, job_id: str, now: float) -> None: ...
    def prune(self, older_than: float, keep: int) -> None: ...
    def seen(self, max_entries: int) -> Seen: ...
    def position(self, consumer: str) -> Position | None: ...
    def save_position(self, consumer: str, stream: str, floor: int) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """The journal's rules over a dict ordered by last update (oldest first)."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, tuple[Entry, float]] = OrderedDict()
        self._positions: dict[str, Position] = {}

    def get(self, job_id: str) -> Entry | None:
        found = self._jobs.get(job_id)
        return found[0] if found else None

    def count(self) -> int:
        return len(self._jobs)

    def _put(self, entry: Entry, now: float) -> None:
        self._jobs[entry.job_id] = (entry, now)
        self._jobs.move_to_end(entry.job_id)

    def begin(self, job_id: str, seq: int, attempt: int, now: float) -> None:
        old = self.get(job_id)
        if old is None:
            self._put(Entry(job_id, RUNNING, seq, attempt, None, False), now)
        else:
            self._put(replace(old, state=RUNNING, seq=seq, attempt=attempt), now)

    def finish(self, job_id: str, seq: int | None, attempt: int, event: bytes, now: float) -> None:
        old = self.get(job_id)
        cancelled = old.cancelled if old else False
        seq = seq if seq is not None else (old.seq if old else None)
        self._put(Entry(job_id, TERMINAL, seq, attempt, event, cancelled), now)

    def cancel(self, job_id: str, now: float) -> None:
        old = self.get(job_id)
        self._put(replace(old, cancelled=True) if old else cancelled_entry(job_id), now)

    def prune(self, older_than: float, keep: int) -> None:
        jobs = self._jobs
        while jobs and (len(jobs) > keep or next(iter(jobs.values()))[1] < older_than):
            jobs.popitem(last=False)

    def seen(self, max_entries: int) -> Seen:
        return Seen.of(self._jobs, len(self._jobs), max_entries)

    def position(self, consumer: str) -> Position | None:
        return self._positions.get(consumer)

    def save_position(self, consumer: str, stream: str, floor: int) -> None:
        self._positions[consumer] = (stream, floor)

    def close(self) -> None:
        self._jobs.clear()


class SqliteStore:
    """The journal in one SQLite file; used from the journal worker thread only."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit; every write is one statement, so it is its own transaction.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def get(self, job_id: str) -> Entry | None:
        row = self._db.execute(
            "SELECT job_id, state, seq, attempt, terminal, cancelled FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        return Entry(row[0], row[1], row[2], row[3], row[4], bool(row[5]))

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    def begin(self, job_id: str, seq: int, attempt: int, now: float) -> None:
        self._db.execute(
            "INSERT INTO jobs (job_id, state, seq, attempt, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, seq = excluded.seq,"
            " attempt = excluded.attempt, updated = excluded.updated",
            (job_id, RUNNING, seq, attempt, now),
        )

    def finish(self, job_id: str, seq: int | None, attempt: int, event: bytes, now: float) -> None:
        self._db.execute(
            "INSERT INTO jobs (job_id, state, seq, attempt, terminal, updated)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
            " state = excluded.state, seq = coalesce(excluded.seq, jobs.seq),"
            " attempt = excluded.attempt, terminal = excluded.terminal,"
            " updated = excluded.updated",
            (job_id, TERMINAL, seq, attempt, event, now),
        )

    def cancel(self, job_id: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO jobs (job_id, state, cancelled, updated) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET cancelled = 1, updated = excluded.updated",
            (job_id, CANCELLED, now),
        )

    def run(self, calls: Sequence[Call], durable: bool) -> list[Any]:
        """Run ``calls`` in order as one transaction; all or none commit.

        ``durable``: the commit is fsynced (``synchronous=FULL``).
        """
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            if len(calls) == 1:
                fn, args = calls[0]
                return [fn(*args)]  # autocommit: one statement, its own transaction
            self._db.execute("BEGIN")
            try:
                results = [fn(*args) for fn, args in calls]
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return results
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def prune(self, older_than: float, keep: int) -> None:
        self._db.execute("DELETE FROM jobs WHERE updated < ?", (older_than,))
        self._db.execute(
            "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs"
            " ORDER BY updated DESC LIMIT -1 OFFSET ?)",
            (keep,),
        )

    def seen(self, max_entries: int) -> Seen:
        """A filter of every job id in the table (agent/journal_seen.py), streamed."""
        rows = self._db.execute("SELECT job_id FROM jobs")
        return Seen.of((row[0] for row in rows), self.count(), max_entries)

    def position(self, consumer: str) -> Position | None:
        row = self._db.execute(
            "SELECT stream, floor FROM positions WHERE consumer = ?", (consumer,)
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def save_position(self, consumer: str, stream: str, floor: int) -> None:
        self._db.execute(
            "INSERT INTO positions (consumer, stream, floor) VALUES (?, ?, ?)"
            " ON CONFLICT (consumer) DO UPDATE SET stream = excluded.stream,"
            " floor = excluded.floor",
            (consumer, stream, floor),
        )

    def close(self) -> None:
        self._db.close()
