"""Request bounds on a real controller: a body too large is refused (413) before it
is read, whether it declares its length or streams chunks; a body nested too
deep is a 400 naming the limit, on a connection that stays usable; page size
is capped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.limits import MAX_NESTING
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


class Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: what goes on the
    wire is exactly the bytes given, and a server that drops the connection
    after an answer is seen doing so."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(
        self, method: str, path: str, body: bytes = b""
    ) -> tuple[int, dict[str, str], dict[str, object]]:
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 20)
        status_line, *lines = head.decode().strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        payload = await asyncio.wait_for(self.reader.readexactly(length), 20)
        return int(status_line.split()[1]), headers, json.loads(payload)


def deep(levels: int) -> bytes:
    return b'{"k":[' * (levels // 2) + b"1" + b"]}" * (levels // 2)


async def test_a_body_nested_10000_deep_is_a_400_naming_the_limit_on_every_body_route(
    stack: Stack,
) -> None:
    await stack.start_agent("web-1.example")
    job_id = await stack.submit("test.ping", target="web-1.example")
    data = deep(10_000)
    submit = b'{"operation": {"type": "test.echo", "data": {"data": %s}}}' % data
    bodies = {
        "/job": submit,
        "/job/batch": b'{"jobs": [%s]}' % submit,
        f"/job/{job_id}/retry": b'{"timeout": %s}' % data,
    }
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(stack))
    connection = Connection(reader, writer)
    try:
        for path, body in bodies.items():
            status, headers, answer = await connection.request("POST", path, body)
            assert status == 400, (path, answer)
            assert answer["error"] == "Invalid request parameters."
            assert answer["details"] == (
                f"body: arrays and objects nest deeper than the limit of {MAX_NESTING} levels"
            ), path
            assert headers.get("connection") != "close", path
            # The same connection still answers.
            status, _, health = await connection.request("GET", "/health")
            assert (status, health) == (200, {"status": "ok"}), path
    finally:
        writer.close()
    assert (await stack.api.get("/job")).json()["total_items"] == 1
