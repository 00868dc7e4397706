"""The agent's on-disk job journal: what it started and how each job ended. I/O: SQLite.

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

One SQLite database per agent in WAL mode. Writes that guard a side effect
commit with ``synchronous=FULL`` (fsynced); the rest with ``NORMAL``, which
survives a process crash (the fault model: SIGKILL) but may lose the last
commits on power loss. Every call runs on one dedicated thread, so the event
loop never waits on the disk and the connection is used from one thread only.

Bounded: entries older than ``retention`` (twice the longest job lifetime:
anything older is refused as expired anyway) and all but the newest
``max_entries`` are pruned on open and every ``PRUNE_EVERY`` writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from common import subjects

RUNNING, TERMINAL, CANCELLED = "running", "terminal", "cancelled"
PRUNE_EVERY = 1000
T = TypeVar("T")

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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-journal")
        self._db = self._thread.submit(self._open).result()

    def _open(self) -> sqlite3.Connection:
        if self.path:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit; every write is one statement, so it is its own transaction.
        db = sqlite3.connect(self.path or ":memory:", isolation_level=None, check_same_thread=False)
        if self.path:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._prune(db)
        return db

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        self._thread.submit(self._db.close).result()
        self._thread.shutdown()

    # -- reads -----------------------------------------------------------------

    async def get(self, job_id: str) -> Entry | None:
        return await self._call(self._get, job_id)

    def _get(self, job_id: str) -> Entry | None:
        row = self._db.execute(
            "SELECT job_id, state, seq, attempt, terminal, cancelled FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        return Entry(row[0], row[1], row[2], row[3], row[4], bool(row[5]))

    async def count(self) -> int:
        return await self._call(lambda: self._db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    # -- writes ----------------------------------------------------------------

    async def begin(self, job_id: str, seq: int, attempt: int, *, durable: bool) -> None:
        """Record that ``attempt`` of the job is about to run; fsynced if ``durable``."""
        await self._call(
            self._write,
            durable,
            "INSERT INTO jobs (job_id, state, seq, attempt, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, seq = excluded.seq,"
            " attempt = excluded.attempt, updated = excluded.updated",
            (job_id, RUNNING, seq, attempt, self.clock()),
        )

    async def finish(self, job_id: str, seq: int | None, attempt: int, event: bytes) -> None:
        """Record the job's terminal event (encoded), before it is published."""
        await self._call(
            self._write,
            True,
            "INSERT INTO jobs (job_id, state, seq, attempt, terminal, updated)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
            " state = excluded.state, seq = coalesce(excluded.seq, jobs.seq),"
            " attempt = excluded.attempt, terminal = excluded.terminal,"
            " updated = excluded.updated",
            (job_id, TERMINAL, seq, attempt, event, self.clock()),
        )

    async def cancel(self, job_id: str) -> None:
        """Remember a cancel request; a job already terminal keeps its state."""
        await self._call(
            self._write,
            False,
            "INSERT INTO jobs (job_id, state, cancelled, updated) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET cancelled = 1, updated = excluded.updated",
            (job_id, CANCELLED, self.clock()),
        )

    def _write(self, durable: bool, sql: str, params: tuple[Any, ...]) -> None:
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute(sql, params)
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            self._prune(self._db)

    async def prune(self) -> None:
        await self._call(self._prune, self._db)

    def _prune(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM jobs WHERE updated < ?", (self.clock() - self.retention,))
        db.execute(
            "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs"
            " ORDER BY updated DESC LIMIT -1 OFFSET ?)",
            (self.max_entries,),
        )
