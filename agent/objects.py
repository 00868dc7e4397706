"""Fetching deploy content from the controller's object store. I/O: NATS (JetStream).

The bucket ``CORRAL_OBJECTS`` is a NATS object store (controller/streams.py):
one metadata message per object (size, chunk count, the nuid its chunks are
published under, a SHA-256 digest) and the chunks themselves. The agent
reads both with stream message gets, one request per chunk, rather than
nats-py's ordered-consumer reader: a get needs nothing but read access to
that one stream (``$JS.API.STREAM.MSG.GET.OBJ_CORRAL_OBJECTS``), so an
agent's NATS user can fetch objects and never write or consume anything.
Gets go to the stream leader, like the claims (controller/streams.py): a
replica may not hold an object uploaded a moment ago.
"""

from __future__ import annotations

import hashlib
import json

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from agent.operations.errors import OperationFailed
from common.subjects import OBJECTS_STREAM, object_chunks, object_meta, object_sha256


class BucketObjects:
    """:class:`agent.operations.base.Objects` over the agent's JetStream connection."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def get(self, name: str) -> bytes:
        try:
            return await self._read(name)
        except NotFoundError:
            raise OperationFailed(f"no object named {name!r} in the object store") from None
        except NatsError as exc:
            raise OperationFailed(f"cannot read object {name!r}: {exc}") from None

    async def _read(self, name: str) -> bytes:
        meta = await self.js.get_last_msg(OBJECTS_STREAM, object_meta(name))
        info = json.loads(meta.data or b"{}")
        if info.get("deleted") or not info.get("nuid"):
            raise NotFoundError
        size, chunks = int(info.get("size") or 0), int(info.get("chunks") or 0)
        content = bytearray()
        subject, seq = object_chunks(info["nuid"]), 1
        for _ in range(chunks):
            chunk = await self.js.get_msg(OBJECTS_STREAM, seq=seq, subject=subject, next=True)
            content += chunk.data or b""
            if len(content) > size:
                break
            seq = (chunk.seq or seq) + 1
        _check(name, bytes(content), size, str(info.get("digest") or ""))
        return bytes(content)


def _check(name: str, content: bytes, size: int, digest: str) -> None:
    """The content is what the metadata says it is, or :class:`OperationFailed`."""
    if len(content) != size or hashlib.sha256(content).hexdigest() != object_sha256(digest):
        raise OperationFailed(f"object {name!r} is corrupt: its content does not match its digest")
