"""Helpers behind the session's server fixtures (see ``tests/conftest.py``).

Does I/O: talks to the embedded Redis through redis-py's synchronous client to
hand each test a clean logical database.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import redis

from controller.store.redis import cluster_seeds

# Database 0 is what ``redis_url`` points at and tests may share; each test
# that wants isolation gets one of the others, emptied first.
TEST_DBS = range(1, 16)


def db_numbers() -> Iterator[int]:
    """Database numbers to hand out round-robin, one per test."""
    return itertools.cycle(TEST_DBS)


def with_db(url: str, db: int) -> str:
    """The same Redis URL pointing at logical database ``db``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def flush_db(url: str) -> None:
    """Empty the logical database ``url`` points at."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def fresh_db_url(base_url: str, db: int) -> str:
    """A URL to database ``db`` on the server at ``base_url``, emptied."""
    url = with_db(base_url, db)
    flush_db(url)
    return url


def cluster_client(url: str) -> redis.RedisCluster:
    """A synchronous client of the Redis Cluster at a ``redis+cluster://`` URL."""
    [(host, port), *_], _, _ = cluster_seeds(url)  # one seed is enough: it knows the rest
    return redis.RedisCluster(host=host, port=port)


def new_namespace() -> str:
    """A short unique token for stream names, subjects and key prefixes."""
    return uuid.uuid4().hex[:8]
