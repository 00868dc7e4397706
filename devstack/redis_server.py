"""``redis-server`` on a loopback port with an append-only file.

Does I/O: starts the server (see :mod:`devstack.process`) and
probes the port with a plain socket speaking just enough RESP (``PING``).
"""

from __future__ import annotations

import socket
from pathlib import Path

from devstack.process import HOST, ServerProcess, find_binary, read_line, start_server


def check_redis(port: int, timeout: float) -> None:
    """Raise unless a Redis server answers ``PING`` with ``+PONG`` on ``port``."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = read_line(sock)
        # -LOADING while the AOF is replayed after a restart: not ready yet.
        if not reply.startswith(b"+PONG"):
            raise ConnectionError(f"expected +PONG, got {reply[:80]!r}")


def start_redis(
    data_dir: Path, port: int | None = None, *, appendonly: bool = True
) -> ServerProcess:
    """Start ``redis-server`` keeping its append-only file under ``data_dir``.

    RDB snapshots are off (``--save ""``); with ``appendonly`` the AOF is
    fsynced every second and on a clean shutdown. Returns once ``PING``
    answers ``+PONG``.
    """
    binary = find_binary("redis-server")

    def build(chosen: int, log_path: Path) -> tuple[list[str], str]:
        argv = [
            binary, "--bind", HOST, "--port", str(chosen), "--dir", str(data_dir),
            "--save", "", "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "everysec", "--protected-mode", "yes", "--daemonize", "no",
            "--logfile", str(log_path),
        ]  # fmt: skip
        return argv, f"redis://{HOST}:{chosen}/0"

    return start_server("redis-server", data_dir, port, build, check_redis)
