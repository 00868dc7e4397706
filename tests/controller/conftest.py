"""Fixtures for controller tests against a real redis-server (tests/conftest.py starts it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controller.store.agents import AgentStore
from controller.store.jobs import JobStore
from controller.store.redis import RedisClient, connect_redis


@pytest.fixture
async def redis(redis_db_url: str) -> AsyncIterator[RedisClient]:
    client = connect_redis(redis_db_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def store(redis: RedisClient) -> JobStore:
    return JobStore(redis, retention=3600.0)


@pytest.fixture
def agents(redis: RedisClient) -> AgentStore:
    return AgentStore(redis)
