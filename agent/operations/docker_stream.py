"""Docker's multiplexed stdout/stderr stream, taken apart. Pure: no I/O.

Without a TTY, Docker sends an exec's output as frames: an 8-byte header
``[stream, 0, 0, 0, size (uint32, big endian)]`` then ``size`` bytes of
that stream (0 stdin echoed on stdout, 1 stdout, 2 stderr). Chunks arrive
cut anywhere, headers included, so the parser keeps what it has not used.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">BxxxL")
STDOUT, STDERR = 1, 2


class StreamError(ValueError):
    """The bytes are not a multiplexed stream (a TTY exec, or a garbled answer)."""


class Demultiplexer:
    """Feed it chunks; it keeps the first ``limit`` bytes of stdout and of stderr."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.output = {STDOUT: bytearray(), STDERR: bytearray()}
        self.truncated = {STDOUT: False, STDERR: False}
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        while len(self._pending) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._pending)
            if kind not in (0, STDOUT, STDERR):
                raise StreamError(f"unknown stream type {kind} in a multiplexed stream")
            end = HEADER.size + size
            if len(self._pending) < end:
                return
            self._keep(STDERR if kind == STDERR else STDOUT, self._pending[HEADER.size : end])
            del self._pending[:end]

    def close(self) -> None:
        """The stream ended: a frame cut short means the answer was too."""
        if self._pending:
            raise StreamError(f"the stream ended inside a frame ({len(self._pending)} bytes left)")

    def text(self, stream: int) -> str:
        return self.output[stream].decode("utf-8", errors="replace")

    def _keep(self, stream: int, payload: bytearray) -> None:
        kept = self.output[stream]
        room = self.limit - len(kept)
        if len(payload) > room:
            self.truncated[stream] = True
        if room > 0:
            kept += payload[:room]
