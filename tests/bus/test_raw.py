"""Raw subscriptions (bus/raw.py) against the session's nats-server.

With the installed nats-py the hook takes the messages before nats-py builds
anything; a client whose ``_process_msg`` is not the one the hook was checked
against gets no hook, says so once, and still delivers through the callback.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from structlog.testing import capture_logs

from bus import raw

Received = tuple[bytes, bytes, bytes, bytes]


class Reshaped(NATS):
    """Another nats-py, as far as the hook can tell: the same work, other parameters."""

    async def _process_msg(self, *message: Any) -> None:
        await super()._process_msg(*message)


@pytest.fixture(autouse=True)
def said_nothing_yet() -> Iterator[None]:
    """The warning is once per process and client class: forget earlier tests' warnings."""
    raw._unavailable.cache_clear()
    yield
    raw._unavailable.cache_clear()


@pytest.fixture
async def plain(nats_url: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def reshaped(nats_url: str) -> AsyncIterator[NATS]:
    nc = Reshaped()
    await nc.connect(nats_url)
    yield nc
    await nc.close()


def collect() -> tuple[asyncio.Queue[Received], raw.RawHandler]:
    queue: asyncio.Queue[Received] = asyncio.Queue()

    def handler(subject: bytes, reply: bytes, data: bytes, status: bytes) -> None:
        queue.put_nowait((subject, reply, data, status))

    return queue, handler


async def one_message(nc: NATS, subject: str) -> None:
    await nc.publish(subject, b"payload", reply="the.reply", headers={"Nats-Msg-Id": "1"})
    await nc.flush()


def unavailable(logs: list[Any]) -> list[Any]:
    return [entry for entry in logs if entry["event"] == "raw_route_unavailable"]


async def test_the_installed_nats_py_takes_the_raw_route(plain: NATS, namespace: str) -> None:
    subject = f"raw.{namespace}"
    queue, handler = collect()
    with capture_logs() as logs:
        sub = await raw.subscribe_raw(plain, subject, handler)
        await one_message(plain, subject)
        received = await asyncio.wait_for(queue.get(), 10.0)
    assert received == (subject.encode(), b"the.reply", b"payload", b"")
    # Taken before nats-py counted it for the subscription (or parsed its headers).
    assert sub.delivered == 0
    assert plain.stats["in_msgs"] >= 1
    assert not unavailable(logs)
    await raw.unsubscribe_raw(plain, sub)


async def test_another_process_msg_signature_falls_back_to_the_callback(
    reshaped: NATS, namespace: str
) -> None:
    subject = f"raw.{namespace}"
    queue, handler = collect()
    with capture_logs() as logs:
        subs = [await raw.subscribe_raw(reshaped, f"{subject}.{n}", handler) for n in (1, 2)]
        await one_message(reshaped, f"{subject}.1")
        received = await asyncio.wait_for(queue.get(), 10.0)
    assert received == (f"{subject}.1".encode(), b"the.reply", b"payload", b"")
    assert subs[0].delivered == 1  # nats-py built the Msg and ran the callback
    said = unavailable(logs)
    assert len(said) == 1  # once, however many subscriptions
    assert said[0]["log_level"] == "warning"
    assert said[0]["nats_py"] == importlib.metadata.version("nats-py")
    assert "Reshaped" in said[0]["client"]
    for sub in subs:
        await raw.unsubscribe_raw(reshaped, sub)


async def test_a_client_without_the_counters_the_hook_keeps_is_not_hooked(
    plain: NATS,
) -> None:
    counted = plain.stats.pop("in_bytes")
    try:
        with capture_logs() as logs:
            assert not raw._hookable(plain)
    finally:
        plain.stats["in_bytes"] = counted
    assert unavailable(logs)[0]["reason"] == "stats"


def test_a_status_line_is_read_from_the_raw_headers() -> None:
    assert raw.status_of(b"NATS/1.0 408 Request Timeout\r\n\r\n", b"") == (b"408 Request Timeout")
    assert raw.status_of(b"NATS/1.0 503\r\n\r\n", b"") == b"503"
    assert raw.status_of(b"NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n", b"") == b""
    assert raw.status_of(b"NATS/1.0 408\r\n\r\n", b"data") == b""
    assert raw.status_of(b"", b"data") == b""
