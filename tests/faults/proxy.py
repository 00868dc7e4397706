"""A small asyncio TCP proxy for partitions, latency and half-open links. I/O: sockets.

A corral process is pointed at the proxy's port instead of the server's, and
the test changes the link while it runs:

- ``partition()``: drop every open connection and refuse new ones;
- ``blackhole()``: keep connections open (and accept new ones) but forward
  nothing either way: a half-open link, the peer sees silence, not a reset;
- ``latency``: seconds added before each chunk is forwarded;
- ``trip_on(pattern)``: blackhole the moment a client sends bytes containing
  ``pattern`` (the chunk holding it is dropped). This is how a test stops a
  process at an exact point of its protocol, e.g. right before a JetStream
  ack (``+ACK``) or a job publish, and then SIGKILLs it there.
- ``heal()``: reset the connections that were held, then forward normally
  (clients reconnect, as they would after a real partition).

It runs in the test's event loop, so the test must not block that loop
(blocking calls go through ``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

HOST = "127.0.0.1"
CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.latency = 0.0
        self.refusing = False
        self.holding = False  # half-open: accept, never forward
        self.tripped = asyncio.Event()
        self._trip: tuple[bytes, ...] = ()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        for task in list(self._links):
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- faults ----------------------------------------------------------------

    def partition(self) -> None:
        """Reset every connection and refuse new ones until :meth:`heal`."""
        self.refusing = True
        self._drop_all()

    def blackhole(self) -> None:
        """Half-open: connections stay up, bytes go nowhere."""
        self.holding = True

    def trip_on(self, *patterns: bytes) -> asyncio.Event:
        """Blackhole when a client chunk contains every one of ``patterns``."""
        self._trip = tuple(patterns)
        self.tripped.clear()
        return self.tripped

    def heal(self) -> None:
        """Forward again; connections that were cut or held are reset first."""
        self._drop_all()
        self.refusing = self.holding = False
        self._trip = ()
        self.tripped.clear()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    # -- plumbing --------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        tasks = [
            asyncio.create_task(self._pump(reader, up_writer, (writer, up_writer), upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, (writer, up_writer), upstream=False)),
        ]
        self._links.update(tasks)
        for task in tasks:
            task.add_done_callback(self._links.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: Sequence[asyncio.StreamWriter],
        *,
        upstream: bool,
    ) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if upstream and self._trip and all(p in chunk for p in self._trip):
                    self.holding = True
                    self.tripped.set()
                if self.holding:
                    continue  # swallowed: the sender believes it was sent
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # A client that went away (killed) closes its side for real; a
            # server's silence under a blackhole must stay a half-open link.
            if upstream or not self.holding:
                for end in pair:
                    with contextlib.suppress(Exception):
                        end.transport.abort()
                    self._writers.discard(end)
