"""``nats-server`` with JetStream on a loopback port, optionally from a config file.

Does I/O: starts the server (see :mod:`devstack.process`), may
write a copy of its config file into the data directory, and probes the port
with a plain socket speaking just enough NATS (``INFO``/``PING``).
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from devstack.process import (
    HOST,
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
    read_line,
    start_server,
)

# A setting outside a "#" comment, also inside a one-line block
# (``jetstream { store_dir: x }``); nats-server accepts ":", "=" or a space.
_STORE_DIR = re.compile(
    r"""^([^#\n]*?(?<![\w.])store_?dir[ \t]*[:=]?[ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s#},]+)""", re.M
)
_MONITORING = re.compile(r"^[^#\n]*?(?<![\w.])(http|http_port|monitor_port)[ \t]*[:= \t]", re.M)
_INCLUDE = re.compile(r"^[ \t]*include[ \t]", re.M)


def _check_nats(port: int, timeout: float) -> None:
    """Raise unless a NATS server with JetStream answers on ``port``.

    Without credentials a server that requires them cannot be PINGed; its
    ``INFO`` is proof enough: nats-server opens the client port only after
    JetStream is up and its streams are recovered from the store.
    """
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        line = read_line(sock)
        if not line.startswith(b"INFO "):
            raise ConnectionError(f"unexpected greeting {line[:80]!r}")
        info = json.loads(line[5:])
        if not info.get("jetstream"):
            raise ServerError("nats-server answered but JetStream is not enabled")
        if info.get("auth_required"):
            return
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        reply = read_line(sock)
        if not reply.startswith(b"PONG"):
            raise ConnectionError(f"expected PONG, got {reply[:80]!r}")


def _server_config(config_file: Path, data_dir: Path) -> tuple[Path, bool]:
    """The file to pass with ``-c``, and whether it names the store directory.

    nats-server refuses ``-sd`` next to a ``store_dir`` in the file, so a file
    that sets one is copied into ``data_dir`` with only that value changed to
    ``data_dir`` (the deployment's directory is not ours to write).
    """
    text = config_file.read_text()
    if not _STORE_DIR.search(text):
        return config_file, False
    if _INCLUDE.search(text):
        # A copy elsewhere would break the relative paths of its includes.
        raise ServerError(f"{config_file}: a config with store_dir cannot use include here")
    data_dir.mkdir(parents=True, exist_ok=True)
    copy = data_dir / "nats-server.conf"
    copy.write_text(_STORE_DIR.sub(lambda m: m.group(1) + json.dumps(str(data_dir)), text))
    return copy, True


def start_nats(
    data_dir: Path, port: int | None = None, *, config_file: Path | None = None
) -> ServerProcess:
    """Start ``nats-server`` with JetStream, storing streams under ``data_dir``.

    ``config_file`` (e.g. the shipped ``deploy/nats/nats-server.conf``) brings
    accounts, users and permissions; host, port and store directory stay
    ours whatever it says, and a monitoring listener it enables moves to a
    free port. Returns once the server advertises JetStream and, unless it
    requires credentials, answers ``PING``.
    """
    binary = find_binary("nats-server")
    data_dir.mkdir(parents=True, exist_ok=True)
    config, stores = _server_config(config_file, data_dir) if config_file else (None, False)

    def build(chosen: int, log_path: Path) -> tuple[list[str], str]:
        argv = [binary]
        if config is not None:
            # Flags after -c override the file's values.
            argv += ["-c", str(config)]
            if _MONITORING.search(config.read_text()):
                argv += ["-m", str(free_port())]  # not the file's fixed 8222
        argv += ["-a", HOST, "-p", str(chosen), "-js"]
        if not stores:
            argv += ["-sd", str(data_dir)]
        argv += ["-l", str(log_path)]
        return argv, f"nats://{HOST}:{chosen}"

    return start_server("nats-server", data_dir, port, build, _check_nats)
