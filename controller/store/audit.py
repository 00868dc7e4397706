"""The audit log in Redis: who called what, with which outcome. I/O: Redis.

One Redis stream (``corral:audit``), trimmed to about ``max_entries``
(``XADD MAXLEN ~``). Every mutating API call and every refused key is an
entry: the key's name (never the key), the route, the target and job id
when there is one, the HTTP status. Concurrent calls share one pipeline
(each still awaits its own write), so auditing costs a busy controller one
round trip per batch of requests, not per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import msgspec

from controller.store.keys import AUDIT
from controller.store.redis import RedisClient, as_text

SCAN_PAGES = 10  # a filtered page reads at most this many pages of the stream


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str = ""  # the stream id: a page's cursor
    at: float
    key: str  # the API key's name; "" when none was valid
    method: str
    route: str
    status: int
    target: str = ""
    job_id: str = ""
    details: str = ""


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    key: str | None = None
    route: str | None = None
    status: int | None = None
    job_id: str | None = None

    def admits(self, entry: AuditEntry) -> bool:
        return (
            (self.key is None or entry.key == self.key)
            and (self.route is None or entry.route == self.route)
            and (self.status is None or entry.status == self.status)
            and (self.job_id is None or entry.job_id == self.job_id)
        )


_FIELDS = ("at", "key", "method", "route", "status", "target", "job_id", "details")


class AuditLog:
    def __init__(self, redis: RedisClient, max_entries: int = 100_000) -> None:
        self.redis = redis
        self.max_entries = max_entries
        self.queue: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self.writing: asyncio.Task[None] | None = None

    async def record(self, entry: AuditEntry) -> None:
        """Write ``entry``, sharing the round trip with concurrent calls."""
        done = asyncio.get_running_loop().create_future()
        self.queue.append((entry, done))
        if self.writing is None:
            self.writing = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        batch, self.queue = self.queue, []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for entry, _ in batch:
                    fields = {name: str(getattr(entry, name)) for name in _FIELDS}
                    pipe.xadd(AUDIT, fields, maxlen=self.max_entries, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - every waiting caller learns of it
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
        finally:
            self.writing = asyncio.create_task(self._write()) if self.queue else None

    async def read(
        self, wanted: AuditFilter, limit: int, before: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """Newest first: up to ``limit`` entries older than ``before``, and the cursor of
        the next page (None when the log is read to its start)."""
        found: list[AuditEntry] = []
        cursor = before
        for _ in range(SCAN_PAGES):
            rows: list[Any] = (
                await self.redis.xrevrange(AUDIT, f"({cursor}" if cursor else "+", "-", limit) or []
            )
            for entry in _entries(rows):
                cursor = entry.id
                if wanted.admits(entry):
                    found.append(entry)
                    if len(found) == limit:
                        return found, cursor
            if len(rows) < limit:
                return found, None
        return found, cursor  # scanned enough for one request: the client asks on


def _entries(rows: Iterable[Any]) -> list[AuditEntry]:
    entries = []
    for stream_id, raw in rows:
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        entries.append(
            AuditEntry(
                id=as_text(stream_id),
                at=float(fields.get("at", "0")),
                key=fields.get("key", ""),
                method=fields.get("method", ""),
                route=fields.get("route", ""),
                status=int(fields.get("status", "0")),
                target=fields.get("target", ""),
                job_id=fields.get("job_id", ""),
                details=fields.get("details", ""),
            )
        )
    return entries
