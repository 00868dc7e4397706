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

Group commit: calls queue up while the worker is busy and the next batch
runs them in order as one transaction, fsynced once if any of them must be.
Each awaited call returns only once its batch committed, so every promise
above holds per call; under load one thread hop and one fsync serve several
jobs instead of three hops and an fsync for each (docs/performance.md).
A write nobody awaits waits up to ``POST_DELAY`` (5 ms) for others to join
its batch; anything awaited, and any lookup, submits the queue at once.

A lookup of a job id never written (almost every delivery) is answered
from a Bloom filter of the table's ids without a hop (agent/journal_seen.py);
any other lookup goes through the queue like a write.

The ``running`` mark and the terminal entry of a read-only job are queued,
not awaited: they only matter after a crash, and a crash before they commit
is a crash before them, after which a read-only job simply runs again (as
it would anyway); they commit in order, in the same queue, and a later
lookup of the job goes through that queue behind them.

In memory (no path: swarms, tests): a dict with the same rules, called
inline. It holds nothing across a crash, so it guards nothing across one
either; a thread hop would cost more than the dict operation itself.

Bounded: entries older than ``retention`` (twice the longest job lifetime:
anything older is refused as expired anyway) and all but the newest
``max_entries`` are pruned on open and every ``PRUNE_EVERY`` writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from agent.journal_seen import Seen
from agent.journal_store import (
    CANCELLED,
    RUNNING,
    TERMINAL,
    Entry,
    MemoryStore,
    Position,
    SqliteStore,
    Store,
    cancelled_entry,
)
from common import subjects

__all__ = [
    "CANCELLED",
    "RUNNING",
    "TERMINAL",
    "Entry",
    "Journal",
    "cancelled_entry",
    "journal_file",
]

PRUNE_EVERY = 1000
POST_DELAY = 0.005  # how long a write nobody waits for may wait for company
T = TypeVar("T")
log = structlog.get_logger("corral.agent")
# One thread for every on-disk journal of the process: an agent has one
# journal, a test process several; threads per journal cost a stack each.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-journal")


def journal_file(directory: str, hostname: str) -> str:
    """The journal of ``hostname`` under ``directory``; ``""`` (no directory): in memory."""
    if not directory:
        return ""
    return str(Path(directory) / f"{subjects.encode_token(hostname)}.sqlite3")


@dataclass
class _Queued:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    durable: bool
    future: asyncio.Future[Any] | None  # None: nobody waits (logged if it fails)


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
        self._queue: list[_Queued] = []  # waiting for the batch in flight to land
        self._busy = False  # a batch is on the worker
        self._later: asyncio.TimerHandle | None = None  # a delayed submit of posted writes
        self._sync(self._store.prune, clock() - retention, max_entries)
        # Job ids the table may hold (on disk only: a dict lookup needs no filter).
        self._seen = self._sync(self._store.seen, max_entries) if not self._inline else None
        self._since: list[str] | None = None  # ids added while a fresh filter is built

    def _sync(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args) if self._inline else _WORKER.submit(fn, *args).result()

    async def _call(self, fn: Callable[..., T], *args: Any, durable: bool = False) -> T:
        if self._inline:
            return fn(*args)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Queued(fn, args, durable, future))
        return await future

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue a write nobody waits for; later calls still see it (same order)."""
        if self._inline:
            fn(*args)
        else:
            self._enqueue(_Queued(fn, args, False, None))

    def _enqueue(self, queued: _Queued) -> None:
        self._queue.append(queued)
        if self._busy:
            return  # the batch in flight submits the queue when it lands
        loop = asyncio.get_running_loop()
        if queued.future is None:
            # Nobody waits for it: let the next jobs' writes join its batch
            # (each hand-off to the worker costs the event loop a thread wake-up).
            if self._later is None:
                self._later = loop.call_later(POST_DELAY, self._submit, loop)
            return
        self._submit(loop)

    def _take_queue(self) -> tuple[list[_Queued], SqliteStore, list[Any], bool]:
        """The queued calls as one batch: the store, its calls, whether to fsync."""
        batch, self._queue = self._queue, []
        store = self._store
        assert isinstance(store, SqliteStore)
        return batch, store, [(q.fn, q.args) for q in batch], any(q.durable for q in batch)

    def _drop_later(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        self._drop_later()
        if self._busy or not self._queue:
            return
        self._busy = True
        batch, store, calls, durable = self._take_queue()
        done = _WORKER.submit(store.run, calls, durable)

        def landed(done: Future[list[Any]]) -> None:
            # RuntimeError: the loop closed meanwhile; nobody is left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._landed, batch, done, loop)

        done.add_done_callback(landed)

    def _landed(
        self, batch: list[_Queued], done: Future[list[Any]], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._busy = False
        error = done.exception()
        results = done.result() if error is None else [None] * len(batch)
        for queued, result in zip(batch, results, strict=True):
            if queued.future is None:
                if error is not None:
                    log.error("journal_write_failed", error=repr(error))
            elif queued.future.done():
                pass  # its caller was cancelled
            elif error is not None:
                queued.future.set_exception(error)
            else:
                queued.future.set_result(result)
        if self._queue:
            self._submit(loop)

    def close(self) -> None:
        """Write what is still queued, then close."""
        self._drop_later()
        if self._queue and not self._inline:
            _, store, calls, durable = self._take_queue()
            self._sync(store.run, calls, durable)
        self._sync(self._store.close)

    async def get(self, job_id: str) -> Entry | None:
        if self._seen is not None and not self._seen.maybe(job_id):
            return None  # never written: no need to ask the table
        return await self._call(self._store.get, job_id)

    async def count(self) -> int:
        return await self._call(self._store.count)

    async def begin(self, job_id: str, seq: int, attempt: int, *, durable: bool) -> None:
        """Record that ``attempt`` of the job is about to run.

        ``durable`` (a side effect): returns once fsynced. Otherwise queued and
        not awaited (a read-only job: see the module docstring).
        """
        self._remember(job_id)
        await self._record(self._store.begin, job_id, seq, attempt, self.clock(), durable=durable)

    async def finish(
        self, job_id: str, seq: int | None, attempt: int, event: bytes, *, durable: bool = True
    ) -> None:
        """Record the job's terminal event (encoded).

        ``durable`` (a side effect, or an outcome the agent decided without
        running): returns once fsynced, before the event is published. Otherwise
        queued and not awaited, like a read-only job's ``running`` mark: lost
        only with the process, after which a read-only job runs again.
        """
        self._remember(job_id)
        now = self.clock()
        await self._record(self._store.finish, job_id, seq, attempt, event, now, durable=durable)

    async def cancel(self, job_id: str) -> None:
        """Remember a cancel request; a job already terminal keeps its state."""
        self._remember(job_id)
        await self._write(self._store.cancel, job_id, self.clock())

    async def position(self, consumer: str) -> Position | None:
        """Where ``consumer`` must start again (agent/own_consumer.py); None: never saved."""
        return await self._call(self._store.position, consumer)

    def save_position(self, consumer: str, stream: str, floor: int) -> None:
        """Queued, not awaited: an older floor only means more jobs re-sent, none skipped."""
        self._post(self._store.save_position, consumer, stream, floor)

    async def prune(self) -> None:
        await self._call(self._store.prune, self.clock() - self.retention, self.max_entries)

    def _remember(self, job_id: str) -> None:
        """Into the filter before its write is queued, so no lookup can miss it."""
        if self._seen is None:
            return
        self._seen.add(job_id)
        if self._since is not None:
            self._since.append(job_id)
        elif self._seen.stale:
            self._since = [job_id]  # its own write is queued after the rebuild
            future: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
            future.add_done_callback(self._fresh_filter)
            self._enqueue(_Queued(self._store.seen, (self.max_entries,), False, future))

    def _fresh_filter(self, future: asyncio.Future[Seen]) -> None:
        """Built from the table after every write queued before it; add the ids since."""
        since, self._since = self._since or [], None
        if future.cancelled() or future.exception() is not None:
            return  # the old filter stays: larger, still never wrong
        seen = future.result()
        for job_id in since:
            seen.add(job_id)
        self._seen = seen

    async def _write(self, fn: Callable[..., None], *args: Any, durable: bool = False) -> None:
        await self._call(fn, *args, durable=durable)
        self._count_write()

    async def _record(self, fn: Callable[..., None], *args: Any, durable: bool) -> None:
        """A job's write: awaited until fsynced if ``durable``, else queued and not awaited."""
        if durable:
            await self._write(fn, *args, durable=True)
        else:
            self._post(fn, *args)
            self._count_write()

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes % PRUNE_EVERY == 0:
            # In the queue like any write; no caller waits for it.
            self._post(self._store.prune, self.clock() - self.retention, self.max_entries)
