"""The read path of ``GET /job/{id}``: encoded details, cached while valid. I/O: Redis.

A job's detail is a pure function of three stored things (common/detail.py):
its meta (written once at submit, never changed), its status, and the set of
its stored events. Events are only ever added, with HSETNX (first copy wins),
until the job is deleted or expires, so the *number* of stored events names
the set. A read therefore asks Redis for a validity token in one round trip,
``(status, updated, HLEN events)``, and if the cached body was rendered from
the same token it is returned as is, without reading or folding any event.
``updated`` is there for the generation of the id, not for the detail: it
starts as the creation time (microseconds), so a job deleted and created
again under the same id cannot match an old entry. Nothing else feeds the
detail: ``done``, ``late`` flags, retry links and redaction are all either
folded from the events or fixed in the meta (results are redacted before
they are stored); rendering reads no clock.

The token is read by one script, so atomically. A miss reads meta, status,
``updated`` and all events in one script (a consistent snapshot), folds,
renders and encodes, and caches the body under the snapshot's own token, so
a cached body is always a state the job really was in, and a hit returns it
only while the job is still in that state.

The cache lives in the controller's memory (LRU, bounded by the total size of
the bodies): a hit costs no extra Redis traffic and no decoding, and several
controllers stay correct because the validity check is always made against
Redis, never against another process's memory. Concurrent misses on one job
share one load (a live 1,000-agent job polled by eight clients renders once
per change, not eight times), as long as the shared snapshot matches what
the waiting request saw. For the few most recently read unfinished jobs the
folded record is kept too, and a miss decodes and folds only the events it
has not folded yet (the render is still whole).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, NamedTuple

from common.detail import DETAIL_ENCODER, render
from common.fold import JobRecord, fold_all
from common.job import FINAL_STATUSES, META_DECODER
from common.messages import EVENT_DECODER
from controller.store.keys import events_key, job_key
from controller.store.redis import RedisClient, as_bytes, as_text, execute
from controller.store.scripts import snapshot_command

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Unfinished jobs whose folded record is kept, so the next miss folds only
# the new events (a 1,000-agent record is a few MB of objects).
LIVE_JOBS = 8
Token = tuple[bytes, bytes | None, int]

# One command for the token: cheaper in redis-py than a two-command pipeline.
# Both keys share the job's hash tag, so it runs on Redis Cluster too.
VALIDITY_SCRIPT = """
local job = redis.call('HMGET', KEYS[1], 'status', 'updated')
return {job[1], job[2], redis.call('HLEN', KEYS[2])}
"""


class _Live(NamedTuple):
    """An unfinished job's folded record and the stored events it was folded from."""

    meta: bytes
    blobs: set[bytes]
    record: JobRecord


class DetailReader:
    """Encoded job details (the exact response bodies), cached by validity token."""

    def __init__(self, redis: RedisClient, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.redis = redis
        self.max_bytes = max_bytes
        self._token = redis.register_script(VALIDITY_SCRIPT)
        self._entries: OrderedDict[str, tuple[Token, bytes]] = OrderedDict()
        self._size = 0
        self._loading: dict[str, asyncio.Future[tuple[Token, bytes] | None]] = {}
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def body(self, job_id: str) -> bytes | None:
        """The JSON body of ``GET /job/{id}``; None if there is no such job."""
        status, updated, count = await self._token(keys=[job_key(job_id), events_key(job_id)])
        if status is None:
            self._drop(job_id)
            return None
        token: Token = (
            as_bytes(status),
            None if updated is None else as_bytes(updated),
            int(count),
        )
        entry = self._entries.get(job_id)
        if entry is not None and entry[0] == token:
            self._entries.move_to_end(job_id)
            self.hits += 1
            return entry[1]
        self.misses += 1
        loaded = await self._load_shared(job_id, token)
        return None if loaded is None else loaded[1]

    async def changed_body(self, job_id: str) -> bytes | None:
        """:meth:`body` of a job known to have changed since any cached copy (a waiter
        woken by its final status): read at once, one round trip, without the validity
        check that could only miss."""
        self.misses += 1
        loaded = await self._load(job_id)
        if loaded is None:
            self._drop(job_id)
            return None
        self._store(job_id, *loaded)
        return loaded[1]

    async def _load_shared(self, job_id: str, token: Token) -> tuple[Token, bytes] | None:
        """Join a load of this job already in flight if it saw the same state."""
        pending = self._loading.get(job_id)
        if pending is not None:
            shared = await _join(pending)
            if shared is not None and shared[0] == token:
                return shared
        future: asyncio.Future[tuple[Token, bytes] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._loading[job_id] = future
        try:
            loaded = await self._load(job_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            if self._loading.get(job_id) is future:
                del self._loading[job_id]
        future.set_result(loaded)
        if loaded is not None:
            self._store(job_id, *loaded)
        return loaded

    async def _load(self, job_id: str) -> tuple[Token, bytes] | None:
        [snapshot] = await execute(self.redis, [snapshot_command(job_id)])
        return self._render(job_id, snapshot)

    def from_snapshot(self, job_id: str, snapshot: list[Any]) -> tuple[str, bytes] | None:
        """The status and detail of a job read in someone else's round trip (the
        collector's, for a waiter here), cached like a read of its own; None if gone."""
        self.misses += 1
        loaded = self._render(job_id, snapshot)
        if loaded is None:
            self._drop(job_id)
            return None
        self._store(job_id, *loaded)
        return as_text(loaded[0][0]), loaded[1]

    def _render(self, job_id: str, snapshot: list[Any]) -> tuple[Token, bytes] | None:
        """A ``snapshot_command`` reply folded, rendered and encoded, with its token."""
        meta, status, updated, blobs = snapshot
        if meta is None:
            return None
        text = as_text(status)
        record = self._fold(job_id, as_bytes(meta), text, blobs)
        detail = render(META_DECODER.decode(meta), record, text)
        token: Token = (
            as_bytes(status),
            None if updated is None else as_bytes(updated),
            len(blobs),
        )
        return token, DETAIL_ENCODER.encode(detail)

    def _fold(self, job_id: str, meta: bytes, status: str, blobs: list[bytes]) -> JobRecord:
        """Fold the stored events; for an unfinished job, only those not folded before.

        Valid because the events hash only grows and the fold is associative
        (``fold_all(new, fold_all(old)) == fold_all(old + new)``, tested in
        tests/common/test_fold.py). Same meta bytes means same job, not one
        created again under its id.
        """
        decode = EVENT_DECODER.decode
        live = self._live.pop(job_id, None)
        if live is not None and live.meta == meta:
            fresh = [b for b in blobs if b not in live.blobs]
            if len(blobs) - len(fresh) == len(live.blobs):
                record = fold_all([decode(b) for b in fresh], live.record)
                live.blobs.update(fresh)
                self._keep(job_id, status, _Live(meta, live.blobs, record))
                return record
        record = fold_all([decode(b) for b in blobs])
        self._keep(job_id, status, _Live(meta, set(blobs), record))
        return record

    def _keep(self, job_id: str, status: str, live: _Live) -> None:
        # Finished jobs rarely get another event: their render is cached, the record not.
        if status in FINAL_STATUSES:
            return
        self._live[job_id] = live
        while len(self._live) > LIVE_JOBS:
            self._live.popitem(last=False)

    def _store(self, job_id: str, token: Token, body: bytes) -> None:
        self._drop(job_id)
        # One huge job must not flush everything else out.
        if len(body) > self.max_bytes // 4:
            return
        self._entries[job_id] = (token, body)
        self._size += len(body)
        while self._size > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._size -= len(evicted)

    def _drop(self, job_id: str) -> None:
        entry = self._entries.pop(job_id, None)
        if entry is not None:
            self._size -= len(entry[1])

    @property
    def live_jobs(self) -> int:
        """Unfinished jobs whose folded record is kept for the next miss."""
        return len(self._live)

    @property
    def size(self) -> int:
        """Total bytes of the cached bodies."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)


async def _join(
    pending: asyncio.Future[tuple[Token, bytes] | None],
) -> tuple[Token, bytes] | None:
    """The result of another request's load; None if that load failed or was cancelled."""
    try:
        return await asyncio.shield(pending)
    except BaseException:
        if pending.done():  # its load failed: the caller makes its own
            return None
        raise  # this request itself was cancelled
