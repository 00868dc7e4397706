"""Fixtures of the fault-injection suite: a private cluster per test.

Each test gets its own nats-server and redis-server (it may kill them), in
the test's temporary directory, so their logs and the corral process logs
survive a failing run. Only what the fixture started is stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster, running_cluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path) as running:
        yield running


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    """The file side-effect jobs append to: one line per real execution."""
    return tmp_path / "counter.txt"
