"""A small HTTP/1.1 keep-alive client for load: cheaper per request than httpx. I/O: TCP.

The load generator shares two cores with the controller, so its own cost
per request must stay small: one connection per worker, requests written
as bytes, responses read by ``Content-Length``. It speaks only to the
controller under test (uvicorn always sends ``Content-Length``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from bench.stack import BenchFailure


class Connection:
    def __init__(self, host: str, port: int, api_key: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {api_key}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        # Bytes go as they are: scenarios encode a body once and send it many times.
        data = (
            body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        )
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload


async def open_pool(url: str, api_key: str, size: int) -> list[Connection]:
    host, port = url.removeprefix("http://").split(":")
    return [await Connection(host, int(port), api_key).open() for _ in range(size)]


async def close_pool(pool: list[Connection]) -> None:
    for connection in pool:
        await connection.close()


async def hammer(
    pool: list[Connection], path: str, seconds: float, check: Callable[[bytes], None]
) -> list[float]:
    """GET ``path`` on every connection in a loop for ``seconds``; the latencies."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker(connection: Connection) -> None:
        first = True
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status, payload = await connection.request("GET", path)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise BenchFailure(f"GET {path}: {status} {payload[:200]!r}")
            if first:  # every connection checks one whole body; the rest: status only
                check(payload)
                first = False

    await asyncio.gather(*(worker(connection) for connection in pool))
    return latencies
