"""Both embedded servers together: a ``nats-server`` and a ``redis-server``.

For ``corral dev up``, the benchmarks and the test suite:
:class:`EmbeddedServers` starts both for one session. Does I/O: starts and
stops the servers (through :mod:`devstack.nats_server` and
:mod:`devstack.redis_server`) and creates and removes their data directory.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TypeVar

from devstack.nats_server import start_nats
from devstack.process import ServerError, ServerProcess
from devstack.redis_server import start_redis

_T = TypeVar("_T")


def _started(value: _T | None) -> _T:
    if value is None:
        raise ServerError("embedded servers are not started")
    return value


class EmbeddedServers:
    """A NATS and a Redis server for one development session or test run.

    With no ``root`` the data lives in a fresh temporary directory that is
    removed on exit; a given ``root`` is kept (it holds the caller's data and
    the logs worth reading after a failure).
    """

    def __init__(self, root: Path | None = None) -> None:
        self._given_root = root
        self._root: Path | None = None
        self._nats: ServerProcess | None = None
        self._redis: ServerProcess | None = None

    @property
    def root(self) -> Path:
        return _started(self._root)

    @property
    def nats(self) -> ServerProcess:
        return _started(self._nats)

    @property
    def redis(self) -> ServerProcess:
        return _started(self._redis)

    def start(self) -> EmbeddedServers:
        if self._given_root is not None:
            self._root = self._given_root
            self._root.mkdir(parents=True, exist_ok=True)
        else:
            self._root = Path(tempfile.mkdtemp(prefix="corral-"))
        try:
            self._nats = start_nats(self._root / "nats")
            self._redis = start_redis(self._root / "redis")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers (Redis first, then NATS) and remove a temp root."""
        try:
            for server in (self._redis, self._nats):
                if server is not None:
                    server.stop()
        finally:
            self._redis = self._nats = None
            if self._root is not None and self._given_root is None:
                shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> EmbeddedServers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
