from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from controller.embedded import ServerProcess, start_nats
from tests.integration.harness import Stack, running_stack


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh nats-server per test: streams and durable consumers never leak between tests."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def stack(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(nats_server.url, redis_db_url, tmp_path) as running:
        yield running
