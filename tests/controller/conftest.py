"""Fixtures for controller tests against a real redis-server (tests/conftest.py starts it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from controller.store.agents import AgentStore
from controller.store.jobs import JobStore


@pytest.fixture
async def redis(redis_db_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_db_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def store(redis: Redis) -> JobStore:
    return JobStore(redis, retention=3600.0)


@pytest.fixture
def agents(redis: Redis) -> AgentStore:
    return AgentStore(redis)
