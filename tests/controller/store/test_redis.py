"""A hot-path pipeline on the client without a read timeout still fails, as a
Redis timeout, when redis-server stops answering (controller/store/redis.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from controller.store import redis as pipelines
from controller.store.redis import connect_redis, run_pipeline
from devstack.process import ServerProcess
from devstack.redis_server import start_redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Private: this test freezes it."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


async def test_a_frozen_redis_fails_the_pipeline_then_the_client_recovers(
    redis_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipelines, "PIPELINE_TIMEOUT", 0.5)
    bulk = connect_redis(redis_server.url, read_timeout=None)
    try:
        async with bulk.pipeline(transaction=False) as pipe:
            pipe.set("k", "1")
            assert await run_pipeline(pipe) == [True]
        redis_server.pause()
        try:
            async with bulk.pipeline(transaction=False) as pipe:
                pipe.get("k")
                with pytest.raises(RedisTimeoutError):
                    await run_pipeline(pipe)
        finally:
            redis_server.resume()
        async with bulk.pipeline(transaction=False) as pipe:
            pipe.get("k")
            assert await run_pipeline(pipe) == [b"1"]
    finally:
        await bulk.aclose()
