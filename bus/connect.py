"""A process's NATS connection and its shutdown signals. I/O: NATS, signals.

Controllers, agents and swarms connect the same way: reconnect forever, after
an exponential, jittered backoff (:func:`reconnect_delay`), logging a lost
link, an error and a recovery. The URL may name several servers, comma
separated; its credentials hold for every server, also those the client
learns from a cluster (:func:`servers_and_credentials`), so it can fail
over to any node. They stop the same way too: the first
SIGTERM/SIGINT sets the caller's ``stop`` event (drain), a second one exits
at once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from typing import Any
from urllib.parse import unquote, urlsplit

import nats
import structlog
from nats.aio.client import DEFAULT_INBOX_PREFIX, Server
from nats.aio.client import Client as NATS

RECONNECT_FIRST, RECONNECT_MAX = 0.25, 5.0
FORCED_EXIT_CODE = 1
log = structlog.get_logger("corral.bus")


def reconnect_delay(servers: list[Server], info: dict[str, Any]) -> tuple[Server | None, float]:
    """The server with the fewest failed attempts, after an exponential, jittered backoff.

    0.25 s, 0.5 s, ... capped at 5 s, so a fleet does not reconnect in lockstep
    after an outage and recovery after minutes down still takes seconds.
    """
    server = min(servers, key=lambda s: s.reconnects)
    delay = min(RECONNECT_FIRST * 2 ** min(server.reconnects, 10), RECONNECT_MAX)
    return server, delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def servers_and_credentials(url: str) -> tuple[list[str], dict[str, str]]:
    """The servers of ``url`` (comma-separated) and the user and password to use on all.

    nats-py reuses a URL's credentials only on that URL's own server: a node
    it learns from the cluster's INFO gets none and refuses the connection
    ("Authorization Violation"), so a client whose node died could never fail
    over. Passed as options, the credentials go to every server.
    """
    servers = [part.strip() for part in url.split(",") if part.strip()]
    for server in servers:
        parts = urlsplit(server)
        if parts.username is not None and parts.password is not None:
            return servers, {"user": unquote(parts.username), "password": unquote(parts.password)}
    return servers, {}


async def connect(url: str, name: str, inbox_prefix: str | None = None) -> NATS:
    """Connect and keep reconnecting forever: the processes run unattended for months.

    ``inbox_prefix``: the first token of this connection's reply subjects
    (nats-py's ``_INBOX`` if None). An agent uses its own, the only inboxes its
    NATS user may subscribe to, so no other client can read its replies.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc) or type(exc).__name__)

    async def on_disconnected() -> None:
        # nats-py calls this on our own close() too; only a lost link is news.
        if connection and (connection[0].is_closed or connection[0].is_draining):
            log.info("nats_closed")
        else:
            log.warning("nats_disconnected")

    async def on_reconnected() -> None:
        log.info("nats_reconnected")

    connection: list[NATS] = []
    servers, credentials = servers_and_credentials(url)
    nc = await nats.connect(
        servers,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_to_server_handler=reconnect_delay,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        inbox_prefix=inbox_prefix or DEFAULT_INBOX_PREFIX,
        user=credentials.get("user"),
        password=credentials.get("password"),
    )
    connection.append(nc)
    return nc


def install_signals(stop: asyncio.Event, requested: str) -> None:
    """First SIGTERM/SIGINT: log ``requested`` and set ``stop``; a second: exit now.

    The second does not wait for anything: running work is cut off, and what
    was not acked is redelivered.
    """
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("forced_exit")
            os._exit(FORCED_EXIT_CODE)
        log.info(requested)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
