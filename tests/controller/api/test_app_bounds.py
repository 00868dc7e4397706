"""Request bounds on a real controller: a body too large is refused (413) before it
is read, whether it declares its length or streams chunks; page size is capped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.nats_server import start_nats
from tests.harness import ADMIN_KEY, Stack, running_stack


@pytest.fixture
async def stack(redis_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    nats_server = start_nats(tmp_path / "nats")
    try:
        async with running_stack(nats_server.url, redis_db_url, tmp_path) as running:
            yield running
    finally:
        nats_server.stop()


def port_of(stack: Stack) -> int:
    port = stack.api.base_url.port
    assert port is not None
    return port


async def raw_post(
    port: int, headers: str, body_parts: list[bytes]
) -> tuple[int, dict[str, object]]:
    """POST by hand: write headers and whatever body parts, then read the answer.

    The body is never completed, so an answer proves the server decided
    without waiting for (or buffering) the rest.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST /job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            f"Content-Type: application/json\r\n{headers}\r\n".encode()
        )
        for part in body_parts:
            writer.write(part)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        status = int(head.split()[1])
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = json.loads(await asyncio.wait_for(reader.readexactly(length), 20))
        return status, body
    finally:
        writer.close()


async def test_declared_huge_body_is_413_before_any_byte_is_sent(stack: Stack) -> None:
    status, body = await raw_post(port_of(stack), "Content-Length: 10000000000\r\n", [])
    assert status == 413
    assert set(body) == {"error", "details", "code"}
    assert body["code"] == 413


async def test_chunked_body_is_cut_off_once_past_the_limit(stack: Stack) -> None:
    chunk = b"x" * 65536
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    # 1.5 MB of a body that never ends: the limit is 1 MiB.
    status, body = await raw_post(port_of(stack), "Transfer-Encoding: chunked\r\n", [framed] * 24)
    assert status == 413
    assert body["code"] == 413


async def test_page_size_is_capped(stack: Stack) -> None:
    for limit in ("10000000", "101", "0", "-1", "x"):
        response = await stack.api.get("/job", params={"limit": limit})
        assert response.status_code == 400, limit
        assert "limit" in response.json()["details"]
    assert (await stack.api.get("/job", params={"limit": 100})).status_code == 200
