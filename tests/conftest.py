"""Session-wide fixtures: one real nats-server and redis-server per test run.

Does I/O: starts the servers once per session (under pytest's temporary
directory, so their logs survive a failing run) and stops them at the end.

Fixtures:

- ``servers`` (session): the :class:`~devstack.servers.EmbeddedServers`.
- ``nats_url`` / ``redis_url`` (session): their URLs (Redis database 0).
- ``redis_db_url`` (function): a URL to a logical Redis database (1-15,
  round-robin) flushed before the test gets it.
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

from devstack.servers import EmbeddedServers
from tests.servers import db_numbers, fresh_db_url, new_namespace

pytest_plugins = ["tests.fixtures"]
# Fixtures that start or reach a real nats-server or redis-server.
REAL_SERVER_FIXTURES = frozenset({"servers", "nats_server", "cluster"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


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


@pytest.fixture
def redis_db_url(redis_url: str, _redis_dbs: Iterator[int]) -> str:
    return fresh_db_url(redis_url, next(_redis_dbs))


@pytest.fixture
def namespace() -> str:
    return new_namespace()
