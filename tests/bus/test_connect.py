"""A process's NATS connection and shutdown signals (bus/connect.py).

The backoff is checked as a function; the connection against a private
nats-server that is restarted under it; the signals on a child process,
because a second signal ends the process it lands in.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nats.aio.client import Server
from structlog.testing import capture_logs

from bus.connect import (
    FORCED_EXIT_CODE,
    RECONNECT_FIRST,
    RECONNECT_MAX,
    connect,
    reconnect_delay,
    servers_and_credentials,
)
from devstack.process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
# Installs the handlers, says so on stdout, says again once the first signal set ``stop``.
SIGNALLED = """
import asyncio, sys
from bus.connect import install_signals
from common.log import configure

async def main():
    configure("json")
    stop = asyncio.Event()
    install_signals(stop, "drain_requested")
    print("installed", flush=True)
    await stop.wait()
    print("stopping", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def server(reconnects: int) -> Server:
    return Server(uri=urlparse("nats://127.0.0.1:4222"), reconnects=reconnects)


def test_the_reconnect_delay_doubles_from_a_quarter_second_with_jitter() -> None:
    for attempts in range(4):
        _, delay = reconnect_delay([server(attempts)], {})
        full = RECONNECT_FIRST * 2**attempts
        assert full / 2 <= delay <= full


def test_the_reconnect_delay_is_capped_however_long_the_outage() -> None:
    delays = [reconnect_delay([server(attempts)], {})[1] for attempts in (5, 10, 11, 1000)]
    assert all(RECONNECT_MAX / 2 <= delay <= RECONNECT_MAX for delay in delays)


def test_the_server_with_the_fewest_failed_attempts_is_tried_next() -> None:
    tried, fresh = server(3), server(1)
    chosen, _ = reconnect_delay([tried, fresh], {})
    assert chosen is fresh


def test_a_urls_credentials_hold_for_every_server_of_the_cluster() -> None:
    """Passed as options, not left in one URL: nodes learnt from the cluster get them too."""
    url = "nats://agent-web%2D1:p%40ss@nats-1:4222, nats://nats-2:4222"
    servers, credentials = servers_and_credentials(url)
    assert servers == ["nats://agent-web%2D1:p%40ss@nats-1:4222", "nats://nats-2:4222"]
    assert credentials == {"user": "agent-web-1", "password": "p@ss"}
    assert servers_and_credentials("nats://127.0.0.1:4222") == (["nats://127.0.0.1:4222"], {})


async def until(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def events(logs: list[MutableMapping[str, Any]]) -> list[object]:
    return [entry["event"] for entry in logs if str(entry["event"]).startswith("nats_")]


async def test_the_connection_comes_back_after_a_restart_and_logs_both_ends(
    nats_server: ServerProcess,
) -> None:
    with capture_logs() as logs:
        nc = await connect(nats_server.url, "connect test")
        try:
            await asyncio.to_thread(nats_server.restart)
            await until(lambda: nc.stats["reconnects"] == 1 and nc.is_connected, "a reconnect")
            await until(lambda: "nats_reconnected" in events(logs), "the reconnect logged")
            await nc.flush()
        finally:
            await nc.close()
    # Errors (the dropped socket, refused attempts) come as they come.
    lifecycle = [event for event in events(logs) if event != "nats_error"]
    assert lifecycle == ["nats_disconnected", "nats_reconnected", "nats_closed"]


async def test_a_first_signal_asks_to_stop_and_a_second_exits_at_once() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SIGNALLED,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        assert await _line(child.stdout.readline()) == "installed"
        child.send_signal(signal.SIGTERM)
        assert await _line(child.stdout.readline()) == "stopping"
        child.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(child.wait(), 20.0) == FORCED_EXIT_CODE
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    logged = [json.loads(line) for line in (await child.stderr.read()).splitlines()]
    assert [(entry["event"], entry["level"]) for entry in logged] == [
        ("drain_requested", "info"),
        ("forced_exit", "warning"),
    ]


async def _line(read: Awaitable[bytes]) -> str:
    return (await asyncio.wait_for(read, 20.0)).decode().strip()
