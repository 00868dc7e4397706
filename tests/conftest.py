"""Session-wide fixtures: one real nats-server and redis-server per test run.

Does I/O: starts the servers once per session (under pytest's temporary
directory, so their logs survive a failing run) and stops them at the end.

Fixtures:

- ``servers`` (session): the :class:`~devstack.servers.EmbeddedServers`.
- ``nats_url`` / ``redis_url`` (session): their URLs (Redis database 0).
- ``redis_db_url`` (function): a URL to an empty Redis: a logical database
  of the session's server (1-15, round-robin), or, for a test marked
  ``both_redis`` (run once per kind, ids ``single`` and ``cluster``), the
  worker's Redis Cluster (``redis_cluster``, started on first use) after a
  FLUSHALL. ``redis_kind`` says which.
- ``redis_cluster`` (session): three masters and three replicas
  (devstack/redis_cluster.py).
- ``namespace`` (function): a unique short token to keep NATS stream names,
  subjects or key prefixes of one test apart from another's.
- from tests/fixtures.py: ``nats_server`` (a private nats-server per test),
  ``js`` (JetStream on it with the streams) and ``stack`` (a whole corral).

A test that asks for a real server, directly or through another fixture,
gets the ``servers`` marker, so ``pytest -m "not servers"`` runs the pure
tests alone, wherever they live.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from devstack.redis_cluster import EmbeddedRedisCluster, start_redis_cluster_sync
from devstack.servers import EmbeddedServers
from tests.servers import cluster_client, db_numbers, fresh_db_url, new_namespace

pytest_plugins = ["tests.fixtures"]
# Fixtures that start or reach a real nats-server or redis-server.
REAL_SERVER_FIXTURES = frozenset({"servers", "nats_server", "cluster", "redis_cluster"})
# The kinds of Redis a ``both_redis`` test runs against (``redis_kind``).
REDIS_KINDS = ("single", "cluster")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_redis: run once on a single redis-server and once on a Redis Cluster"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_redis"
    ):
        metafunc.parametrize("redis_kind", REDIS_KINDS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
    # The long scenarios first: with several workers (make test) the rest
    # fills in around them, instead of one of them starting last and running
    # alone. The order within each group is kept.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    with EmbeddedServers(root=tmp_path_factory.mktemp("servers")) as embedded:
        yield embedded


@pytest.fixture(scope="session")
def nats_url(servers: EmbeddedServers) -> str:
    return servers.nats.url


@pytest.fixture(scope="session")
def redis_url(servers: EmbeddedServers) -> str:
    return servers.redis.url


@pytest.fixture(scope="session")
def _redis_dbs() -> Iterator[int]:
    return db_numbers()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedisCluster]:
    """Started once per worker, the first time a test asks for it."""
    cluster = start_redis_cluster_sync(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def _redis_cluster_client(redis_cluster: EmbeddedRedisCluster) -> Iterator[redis.RedisCluster]:
    with cluster_client(redis_cluster.url) as client:
        yield client


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """``single`` unless the test is marked ``both_redis`` (then each in turn)."""
    return str(getattr(request, "param", "single"))


@pytest.fixture
def redis_db_url(
    redis_kind: str, redis_url: str, _redis_dbs: Iterator[int], request: pytest.FixtureRequest
) -> str:
    if redis_kind == "cluster":
        # Asked for by name: a test that never runs on the cluster never starts it.
        client: redis.RedisCluster = request.getfixturevalue("_redis_cluster_client")
        client.flushall()  # every master: redis-py sends it to all primaries
        cluster: EmbeddedRedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return fresh_db_url(redis_url, next(_redis_dbs))


@pytest.fixture
def namespace() -> str:
    return new_namespace()
