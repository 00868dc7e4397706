"""start_nats with a config file: the store directory and monitoring port are ours."""

from __future__ import annotations

import socket
from pathlib import Path

import nats
import pytest

from devstack.nats_server import _server_config, start_nats
from devstack.process import ServerError


@pytest.mark.parametrize(
    "text",
    [
        'jetstream {\n  store_dir: "/var/lib/nats/jetstream"\n  max_file_store: 1GB\n}\n',
        "jetstream { store_dir = /srv/nats, max_memory_store: 64MB }\n",
        "store_dir: '/srv/nats'\njetstream: enabled\n",
    ],
)
def test_a_store_dir_in_the_file_is_replaced_by_the_data_dir(tmp_path: Path, text: str) -> None:
    given = tmp_path / "given.conf"
    given.write_text("# store_dir: /commented/out\n" + text)
    used, stores = _server_config(given, tmp_path / "data")
    assert stores
    assert used != given
    written = used.read_text()
    assert f'"{tmp_path / "data"}"' in written
    assert "/var/lib/nats" not in written
    assert "/srv/nats" not in written
    assert "# store_dir: /commented/out" in written  # nothing else changes
    assert given.read_text().startswith("# store_dir")  # the original is untouched


def test_a_file_without_store_dir_is_used_in_place(tmp_path: Path) -> None:
    given = tmp_path / "given.conf"
    given.write_text("# store_dir: /not/really\nmax_payload: 1MB\n")
    assert _server_config(given, tmp_path / "data") == (given, False)


def test_a_store_dir_next_to_an_include_is_refused(tmp_path: Path) -> None:
    given = tmp_path / "given.conf"
    given.write_text('include "accounts.conf"\njetstream { store_dir: "/x" }\n')
    with pytest.raises(ServerError, match="include"):
        _server_config(given, tmp_path / "data")


def connect_without_credentials(port: int) -> bytes:
    """The server's answer to CONNECT + PING with no user (a raw socket: a failed
    nats-py connect can leave its transport for the GC to warn about)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rwb")
        stream.readline()  # INFO
        stream.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        stream.flush()
        return stream.readline()


async def test_a_config_with_users_starts_and_admits_only_them(tmp_path: Path) -> None:
    config = tmp_path / "users.conf"
    config.write_text(
        "http: 127.0.0.1:8222\n"
        'jetstream { store_dir: "/var/lib/nats/jetstream" }\n'
        'authorization { users: [ { user: a, password: "pw-a" } ] }\n'
    )
    server = start_nats(tmp_path / "nats", config_file=config)
    try:
        assert (tmp_path / "nats" / "jetstream").is_dir()
        nc = await nats.connect(f"nats://a:pw-a@127.0.0.1:{server.port}", allow_reconnect=False)
        try:
            assert (await nc.jetstream().account_info()).streams == 0
        finally:
            await nc.close()
        assert connect_without_credentials(server.port).startswith(b"-ERR")
        server.kill()
        server.restart()  # same argv: same port, store and monitoring port
        assert server.running
    finally:
        server.stop()
