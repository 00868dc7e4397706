"""Per-test real servers and the whole in-process stack, for any test that asks.

Does I/O: starts a private nats-server per test (``nats_server``), creates the
streams on it (``js``), or runs a controller and agents in the test's loop
(``stack``, tests/harness.py). Registered by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from controller.streams import ensure_streams
from devstack.nats_server import start_nats
from devstack.process import ServerProcess
from tests.harness import Stack, running_stack


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh nats-server per test: streams and durable consumers never leak between tests."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def js(nats_server: ServerProcess) -> AsyncIterator[JetStreamContext]:
    """JetStream on a private server with the streams as the controller creates them."""
    nc = await nats.connect(nats_server.url)
    try:
        context = nc.jetstream()
        await ensure_streams(context)
        yield context
    finally:
        await nc.close()


@pytest.fixture
async def stack(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(nats_server.url, redis_db_url, tmp_path) as running:
        yield running
