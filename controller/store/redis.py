"""The controller's Redis clients, pipelines and replies. I/O: Redis.

Two clients share one URL. The main one reads each reply under a socket
timeout; the hot pipelines (job records, dispatched marks, the collector's
writes) run on a second one without it (``bulk``), because a per-reply
``asyncio.timeout`` per command was a large share of a busy controller
(docs/performance.md), and are bounded as a whole instead by the same
bound (:func:`run_pipeline`), so a Redis that stops answering still fails
the call (503 at the API, retried by the collector) rather than hanging it.

Replies are bytes (``decode_responses`` off); :func:`as_text` and
:func:`as_bytes` also accept ``str`` (a script's status reply).

Commands are packed by hiredis's C packer where it is installed (the
``controller`` extra has it): redis-py's asyncio connection packs in Python,
which was an eighth of a busy controller's CPU (docs/performance.md). The
bytes are the same; an argument hiredis does not take falls back to redis-py.

``redis+cluster://[user:password@]host:port[,host:port...]`` selects Redis
Cluster (redis-py's :class:`~redis.asyncio.cluster.RedisCluster`): the hosts
are seeds, the client learns the rest. Every command and script the store
sends keeps its keys in one hash slot (docs/architecture.md, "Redis
layout"); cross-slot pipelines are non-transactional, and the cluster client
splits them per node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeAlias
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from controller.store.scripts import SCRIPTS

READ_TIMEOUT = 5.0  # the main client's socket timeout
PIPELINE_TIMEOUT = READ_TIMEOUT  # the same bound for a whole hot pipeline
CLUSTER_SCHEME = "redis+cluster://"

RedisClient: TypeAlias = Redis | RedisCluster
AnyPipeline: TypeAlias = Pipeline | ClusterPipeline

# Redis cannot answer now (the API's 503; the collector retries): the server is
# down or slow, or, on a cluster, a master is down, a failover is under way
# (a demoted master refuses writes) or slots are moving.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,  # and ClusterDownError, MasterDownError; "TTL exhausted" redirections
    TryAgainError,
    AskError,  # and MovedError: redirections still unresolved after the client's retries
    SlotNotCoveredError,
    ReadOnlyError,
)
# The cluster client raises its bare exception both for a topology it cannot
# learn (an outage) and for a command it cannot route (a bug: keys in two slots).
_TOPOLOGY_FAILURES = (
    "Redis Cluster cannot be connected",
    "All slots are not covered",
    "startup_nodes could not agree",
)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot answer now, rather than a faulty request."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return type(exc) is RedisClusterException and str(exc).startswith(_TOPOLOGY_FAILURES)


c_pack_command: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack

    c_pack_command = _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is optional: redis-py packs alone
    c_pack_command = None


class CPackedConnection(AbstractConnection):
    """Packs with hiredis (mixed in before a redis-py connection class)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0] if args else b""
        # redis-py splits a multi-word command name ("CONFIG GET"); hiredis does not.
        if c_pack_command is None or b" " in (name.encode() if isinstance(name, str) else name):
            return super().pack_command(*args)
        try:
            return [c_pack_command(args)]
        except TypeError:  # e.g. a bytearray: redis-py encodes what hiredis does not
            return super().pack_command(*args)


def c_packed(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` packing with hiredis; itself without hiredis."""
    if c_pack_command is None or issubclass(connection_class, CPackedConnection):
        return connection_class
    return type(f"CPacked{connection_class.__name__}", (CPackedConnection, connection_class), {})


def connect_redis(url: str, *, read_timeout: float | None = READ_TIMEOUT) -> RedisClient:
    """A client that rides out short outages: a few retries with jittered backoff
    (bounded, so a request during a long outage fails fast with 503), a
    health check on idle connections, and bounded socket timeouts.

    ``read_timeout=None``: the ``bulk`` client, whose pipelines are bounded
    as a whole by :func:`run_pipeline`."""
    options: dict[str, Any] = {
        "health_check_interval": 5,
        "socket_timeout": read_timeout,
        "socket_connect_timeout": 2,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, BusyLoadingError],
    }
    if url.startswith(CLUSTER_SCHEME):
        seeds, username, password = cluster_seeds(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in seeds],
            username=username,
            password=password,
            **options,
        )
    client = Redis.from_url(url, **options)
    pool = client.connection_pool
    pool.connection_class = c_packed(pool.connection_class)
    return client


def cluster_seeds(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """The seed nodes, user and password of a ``redis+cluster://`` URL."""
    rest = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0]
    userinfo, _, hosts = rest.rpartition("@")
    username, _, password = userinfo.partition(":")
    seeds = []
    for seed in hosts.split(","):
        host, _, port = seed.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a {CLUSTER_SCHEME} seed must be host:port, got {seed!r}")
        seeds.append((host.strip("[]"), int(port)))
    return seeds, unquote(username) or None, unquote(password) or None


async def run_pipeline(pipe: AnyPipeline, **options: Any) -> list[Any]:
    """``pipe.execute(**options)``, failing like a socket timeout after PIPELINE_TIMEOUT."""
    try:
        async with asyncio.timeout(PIPELINE_TIMEOUT):
            replies: list[Any] = await pipe.execute(**options)
    except TimeoutError:
        # redis-py closed the connection on the cancel; callers handle RedisError.
        raise RedisTimeoutError(f"Redis did not answer within {PIPELINE_TIMEOUT:g}s") from None
    return replies


async def execute(client: RedisClient, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Run raw commands in one pipeline round trip; EVALSHA without SCRIPT EXISTS.

    redis-py's script objects check every registered script with a SCRIPT
    EXISTS round trip before each pipeline; this sends EVALSHA by the SHAs
    of :data:`~controller.store.scripts.SCRIPTS` and loads them only when
    Redis answers NOSCRIPT (it restarted or flushed them, or they are being
    loaded as the pipeline runs). Then only the commands that got NOSCRIPT
    run again: the others ran, and a second run of a script would answer
    for a state it made itself (an apply finding its events already stored).
    Raises the first error any command got.
    """
    replies = await _pipelined(client, commands)
    unloaded = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if unloaded:
        for text in SCRIPTS.values():
            await client.script_load(text)
        again = await _pipelined(client, [commands[i] for i in unloaded])
        for i, reply in zip(unloaded, again, strict=True):
            replies[i] = reply
    error = next((reply for reply in replies if isinstance(reply, Exception)), None)
    if error is not None:
        raise error
    return replies


async def _pipelined(client: RedisClient, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Each command's reply, or the error it got, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        return await run_pipeline(pipe, raise_on_error=False)


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
