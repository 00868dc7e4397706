"""A subscription whose messages skip nats-py's per-message work. I/O: NATS.

nats-py turns every incoming message into a ``Msg``: it decodes subject and
reply, parses the header block (an event's ``Nats-Msg-Id``: about 7 % of a
folding controller), queues the message and wakes the subscription's task to
hand it over. The collector needs none of that: the event id is inside the
event, and it only needs the subject (whose agent sent it), the ack subject
and the payload. So :func:`subscribe_raw` routes a subscription's messages
straight from the protocol parser to a plain function, by subscription id,
before nats-py builds anything.

That hooks ``Client._process_msg``, a private method. The subscription also
gets an ordinary callback that hands the same four values over: a client
without that method, or one whose parser stops calling it through the
instance (another nats-py), still delivers every message, only slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

# subject, reply (ack subject), payload, status ("408 Request Timeout"; b"" for a message)
RawHandler = Callable[[bytes, bytes, bytes, bytes], None]
_ROUTES = "_corral_raw_routes"
_HEADER_LINE = len(b"NATS/1.0")


def status_of(headers: bytes, data: bytes) -> bytes:
    """A server status line ("NATS/1.0 408 Request Timeout"), or b"" for a message."""
    if not headers or data or headers[_HEADER_LINE : _HEADER_LINE + 1] != b" ":
        return b""
    end = headers.find(b"\r\n")
    return headers[_HEADER_LINE + 1 : end if end > 0 else len(headers)].strip()


def _router(nc: NATS) -> dict[int, RawHandler] | None:
    """The client's route table, installed on first use; None if it cannot be hooked."""
    routes: dict[int, RawHandler] | None = getattr(nc, _ROUTES, None)
    if routes is not None:
        return routes
    if not _hookable(nc):
        return None
    original = nc._process_msg
    table: dict[int, RawHandler] = {}
    stats = nc.stats

    async def process_msg(
        sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any
    ) -> None:
        handler = table.get(sid)
        if handler is None:
            await original(sid, subject, reply, data, headers)
            return
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        handler(subject, reply, data, status_of(headers, data))

    setattr(nc, _ROUTES, table)
    # The parser looks the method up on the instance for every message.
    setattr(nc, "_process_msg", process_msg)  # noqa: B010 - a private method, hooked on purpose
    return table


def _hookable(nc: NATS) -> bool:
    return callable(getattr(type(nc), "_process_msg", None))


async def subscribe_raw(nc: NATS, subject: str, handler: RawHandler) -> Subscription:
    routes = _router(nc)
    sub = await nc.subscribe(subject, cb=_through_msg(handler))
    if routes is not None:
        routes[sub._id] = handler
    return sub


async def unsubscribe_raw(nc: NATS, sub: Subscription) -> None:
    routes: dict[int, RawHandler] | None = getattr(nc, _ROUTES, None)
    if routes is not None:
        routes.pop(sub._id, None)
    with contextlib.suppress(Exception):
        await sub.unsubscribe()


def _through_msg(handler: RawHandler) -> Callable[[Msg], Any]:
    async def on_message(msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status", "") if not msg.data else ""
        line = f"{status} {headers.get('Description', '')}".strip() if status else ""
        handler(msg.subject.encode(), msg.reply.encode(), msg.data, line.encode())

    return on_message
