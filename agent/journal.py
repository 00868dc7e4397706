"""The agent's job journal: what it started and how each job ended. I/O: SQLite.

Delivery is at-least-once, but an operation with side effects must run at
most once per agent. Before such an operation starts the agent records the
job as ``running`` (with the delivery attempt and the job message's stream
sequence) and waits until that is durable; once the outcome is known it
records the encoded terminal event, before publishing it. After a crash the
journal tells a redelivery apart from a fresh job:

- terminal: re-emit the stored event (same event id), never run again;
- running, but not in this process: it was running when the agent died;
- another stream sequence for a known job id: a replay.

Cancel requests are remembered here too, so a job cancelled before it
arrives is never run.

On disk: one SQLite database per agent in WAL mode. Writes that guard a
side effect commit with ``synchronous=FULL`` (fsynced); the rest with
``NORMAL``, which survives a process crash (the fault model: SIGKILL) but
may lose the last commits on power loss. Every SQLite call runs on one
worker thread shared by all journals of the process (:data:`_WORKER`), so
the event loop never waits on the disk and each connection is used from
that one thread only.

In memory (no path: swarms, tests): a dict with the same rules, called
inline. It holds nothing across a crash, so it guards nothing across one
either; a thread hop would cost more than the dict operation itself.

Bounded: entries older than ``retention`` (twice the longest job lifetime:
anything older is refused as expired anyway) and all but the newest
``max_entries`` are pruned on open and every ``PRUNE_EVERY`` writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from common import subjects

RUNNING, TERMINAL, CANCELLED = "running", "terminal", "cancelled"
PRUNE_EVERY = 1000
T = TypeVar("T")
# One thread for every on-disk journal of the process: an agent has one
# journal, a test process several; threads per journal cost a stack each.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-journal")

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
"""


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


def journal_file(directory: str, hostname: str) -> str:
    """The journal of ``hostname`` under ``directory``; ``""`` (no directory): in memory."""
    if not directory:
        return ""
    return str(Path(directory) / f"{subjects.encode_token(hostname)}.sqlite3")


class Store(Protocol):
    """The synchronous operations both backends provide; ``now`` is the journal's clock."""

    def get(self, job_id: str) -> Entry | None: ...
    def count(self) -> int: ...
    def begin(self, job_id: str, seq: int, attempt: int, durable: bool, now: float) -> None: ...
    def finish(
        self, job_id: str, seq: int | None, attempt: int, event: bytes, now: float
    ) -> None: ...
    def cancel(self, job_id: str, now: float) -> None: ...
    def prune(self, older_than: float, keep: int) -> None: ...
    def close(self) -> None: ...


class Journal:
    def __init__(
        self,
        path: str = "",
        *,
        retention: float = 2 * 24 * 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating) the journal at ``path``; ``""`` keeps it in memory (no crash safety)."""
        self.path = path
        self.retention = retention
        self.max_entries = max_entries
        self.clock = clock
        self._writes = 0
        self._store: Store = _WORKER.submit(SqliteStore, path).result() if path else MemoryStore()
        self._inline = not path
        self._sync(self._store.prune, clock() - retention, max_entries)

    def _sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args) if self._inline else _WORKER.submit(fn, *args).result()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._inline:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(_WORKER, fn, *args)

    def close(self) -> None:
        self._sync(self._store.close)

    async def get(self, job_id: str) -> Entry | None:
        return await self._call(self._store.get, job_id)

    async def count(self) -> int:
        return await self._call(self._store.count)

    async def begin(self, job_id: str, seq: int, attempt: int, *, durable: bool) -> None:
        """Record that ``attempt`` of the job is about to run; fsynced if ``durable``."""
        await self._write(self._store.begin, job_id, seq, attempt, durable, self.clock())

    async def finish(self, job_id: str, seq: int | None, attempt: int, event: bytes) -> None:
        """Record the job's terminal event (encoded), before it is published."""
        await self._write(self._store.finish, job_id, seq, attempt, event, self.clock())

    async def cancel(self, job_id: str) -> None:
        """Remember a cancel request; a job already terminal keeps its state."""
        await self._write(self._store.cancel, job_id, self.clock())

    async def prune(self) -> None:
        await self._call(self._store.prune, self.clock() - self.retention, self.max_entries)

    async def _write(self, fn: Callable[..., None], *args: Any) -> None:
        await self._call(fn, *args)
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            await self.prune()


class MemoryStore:
    """The journal's rules over a dict ordered by last update (oldest first)."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, tuple[Entry, float]] = OrderedDict()

    def get(self, job_id: str) -> Entry | None:
        found = self._jobs.get(job_id)
        return found[0] if found else None

    def count(self) -> int:
        return len(self._jobs)

    def _put(self, entry: Entry, now: float) -> None:
        self._jobs[entry.job_id] = (entry, now)
        self._jobs.move_to_end(entry.job_id)

    def begin(self, job_id: str, seq: int, attempt: int, durable: bool, now: float) -> None:
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

    def begin(self, job_id: str, seq: int, attempt: int, durable: bool, now: float) -> None:
        self._write(
            durable,
            "INSERT INTO jobs (job_id, state, seq, attempt, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, seq = excluded.seq,"
            " attempt = excluded.attempt, updated = excluded.updated",
            (job_id, RUNNING, seq, attempt, now),
        )

    def finish(self, job_id: str, seq: int | None, attempt: int, event: bytes, now: float) -> None:
        self._write(
            True,
            "INSERT INTO jobs (job_id, state, seq, attempt, terminal, updated)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
            " state = excluded.state, seq = coalesce(excluded.seq, jobs.seq),"
            " attempt = excluded.attempt, terminal = excluded.terminal,"
            " updated = excluded.updated",
            (job_id, TERMINAL, seq, attempt, event, now),
        )

    def cancel(self, job_id: str, now: float) -> None:
        self._write(
            False,
            "INSERT INTO jobs (job_id, state, cancelled, updated) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET cancelled = 1, updated = excluded.updated",
            (job_id, CANCELLED, now),
        )

    def _write(self, durable: bool, sql: str, params: tuple[Any, ...]) -> None:
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute(sql, params)
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

    def close(self) -> None:
        self._db.close()
