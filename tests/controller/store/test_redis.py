"""The controller's Redis clients (controller/store/redis.py): a hot-path pipeline
on the client without a read timeout still fails, as a Redis timeout, when
redis-server stops answering; the URL picks a single server or a cluster; which
errors mean "unavailable" (503); the key layout keeps each script in one slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import Connection
from redis.crc import key_slot
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from controller.store import redis as pipelines
from controller.store.keys import (
    INDEX_ALL,
    INDEX_CANCELLING,
    INDEX_KEYS,
    INDEX_UNDISPATCHED,
    events_key,
    expected_key,
    job_key,
    order_key,
    terminal_key,
)
from controller.store.redis import cluster_seeds, connect_redis, run_pipeline, unavailable
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


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "a" * 40, 1, "corral:job:{x}", b"\x00\xffbytes", 1733234567.123456, -3),
        ("HSET", "k", "f", "h\u00e9llo", 1e-07, 123456789012345678),
        ("SET", "k", bytearray(b"not for hiredis")),  # redis-py packs it
        ("CONFIG GET", "maxmemory"),  # a two-word name: redis-py splits it
    ],
)
def test_commands_pack_to_the_same_bytes_as_redis_py(args: tuple[EncodableT, ...]) -> None:
    client = connect_redis("redis://127.0.0.1:1/0")
    assert isinstance(client, Redis)
    connection_class = client.connection_pool.connection_class
    assert issubclass(connection_class, pipelines.CPackedConnection)
    packed = connection_class().pack_command(*args)
    assert b"".join(packed) == b"".join(Connection().pack_command(*args))


async def test_a_c_packed_client_writes_and_reads(redis_server: ServerProcess) -> None:
    client = connect_redis(redis_server.url)
    try:
        await client.hset("h", mapping={"f": 1.5, "g": b"\xff", "\u00e9": "v"})
        assert await client.hgetall("h") == {b"f": b"1.5", b"g": b"\xff", "\u00e9".encode(): b"v"}
        assert await client.config_get("maxmemory") == {"maxmemory": "0"}
    finally:
        await client.aclose()


def test_a_cluster_url_names_its_seeds_and_credentials() -> None:
    seeds, user, password = cluster_seeds("redis+cluster://ops:s%40cret@10.0.0.1:7000,[::1]:7001")
    assert seeds == [("10.0.0.1", 7000), ("::1", 7001)]
    assert (user, password) == ("ops", "s@cret")
    assert cluster_seeds("redis+cluster://a:1/0") == ([("a", 1)], None, None)
    with pytest.raises(ValueError, match="host:port"):
        cluster_seeds("redis+cluster://a,b:2")


async def test_the_scheme_picks_the_client() -> None:
    single = connect_redis("redis://127.0.0.1:1/0")
    cluster = connect_redis("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    try:
        assert isinstance(single, Redis)
        assert isinstance(cluster, RedisCluster)  # nothing connects until a command
    finally:
        await single.aclose()
        await cluster.aclose()


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("slow"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
        redis.exceptions.MasterDownError("MASTERDOWN"),
        redis.exceptions.ClusterError("TTL exhausted."),
        redis.exceptions.TryAgainError("TRYAGAIN"),
        redis.exceptions.MovedError("3999 127.0.0.1:6381"),
        redis.exceptions.SlotNotCoveredError("slot 7 is not covered"),
        redis.exceptions.ReadOnlyError("READONLY You can't write against a read only replica."),
        redis.exceptions.RedisClusterException("Redis Cluster cannot be connected. Please ..."),
    ],
    ids=lambda error: type(error).__name__,
)
def test_outages_and_failovers_are_unavailable(error: Exception) -> None:
    assert unavailable(error)


def test_a_command_the_cluster_cannot_route_is_a_bug_not_an_outage() -> None:
    assert not unavailable(redis.exceptions.RedisClusterException("EVAL - all keys must map"))
    assert not unavailable(redis.exceptions.ResponseError("WRONGTYPE"))


def test_every_key_of_a_job_and_every_index_key_share_their_slot() -> None:
    job_id = "6f1c2a8e-0000-4000-8000-000000000001"
    per_job = {key_slot(k(job_id).encode()) for k in (job_key, events_key, terminal_key)}
    per_job |= {key_slot(k(job_id).encode()) for k in (expected_key, order_key)}
    assert len(per_job) == 1
    indexes = [*INDEX_KEYS, INDEX_ALL, INDEX_UNDISPATCHED, INDEX_CANCELLING]
    assert len({key_slot(key.encode()) for key in indexes}) == 1
