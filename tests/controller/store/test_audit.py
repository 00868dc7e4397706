"""The audit log's store against a real Redis: shared writes, the bound, filters."""

from __future__ import annotations

import asyncio

import pytest

from controller.store.audit import AuditEntry, AuditFilter, AuditLog
from controller.store.keys import AUDIT
from controller.store.redis import RedisClient

pytestmark = pytest.mark.both_redis  # the store must act alike on both


def entry(n: int, key: str = "ops") -> AuditEntry:
    return AuditEntry(at=float(n), key=key, method="POST", route="/job", status=201, job_id=str(n))


async def test_concurrent_records_are_all_written_newest_first(redis: RedisClient) -> None:
    log = AuditLog(redis)
    await asyncio.gather(*(log.record(entry(n)) for n in range(50)))
    found, cursor = await log.read(AuditFilter(), 100)
    assert sorted(int(e.job_id) for e in found) == list(range(50))
    order = [tuple(map(int, e.id.split("-"))) for e in found]
    assert order == sorted(order, reverse=True)
    assert cursor is None


async def test_the_log_is_trimmed_near_its_bound(redis: RedisClient) -> None:
    log = AuditLog(redis, max_entries=100)
    for start in range(0, 1000, 100):
        await asyncio.gather(*(log.record(entry(n)) for n in range(start, start + 100)))
    # Trimming is approximate (whole stream nodes): near the bound, far below what was written.
    assert 100 <= await redis.xlen(AUDIT) < 300


async def test_a_filter_scans_past_what_it_skips(redis: RedisClient) -> None:
    log = AuditLog(redis)
    for n in range(30):
        await log.record(entry(n, key="ci" if n % 10 == 0 else "ops"))
    found, _ = await log.read(AuditFilter(key="ci"), 5)
    assert [e.job_id for e in found] == ["20", "10", "0"]
