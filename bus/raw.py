"""A subscription whose messages skip nats-py's per-message work. I/O: NATS.

nats-py turns every incoming message into a ``Msg``: it decodes subject and
reply, parses the header block (an event's ``Nats-Msg-Id``: about 7 % of a
folding controller), queues the message and wakes the subscription's task to
hand it over. The collector needs none of that: the event id is inside the
event, and it only needs the subject (whose agent sent it), the ack subject
and the payload. So :func:`subscribe_raw` routes a subscription's messages
straight from the protocol parser to a plain function, by subscription id,
before nats-py builds anything.

That hooks ``Client._process_msg``, a private method, which the parser calls
through the instance as ``_process_msg(sid, subject, reply, payload,
headers)`` with the raw header block: so in every nats-py from 2.9 to 2.16.
The hook goes only on a client whose method has exactly those parameters,
annotated as there (``headers: bytes``), and whose ``stats`` has the two
counters the hook keeps; on any other client ``raw_route_unavailable`` is
logged once per client class, with the nats-py version. Every subscription
also gets an ordinary callback that hands the same four values over, so a
client without the hook, or one whose parser stops calling the method
through the instance, still delivers every message, only slower.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

# subject, reply (ack subject), payload, status ("408 Request Timeout"; b"" for a message)
RawHandler = Callable[[bytes, bytes, bytes, bytes], None]
_ROUTES = "_corral_raw_routes"
_HEADER_LINE = len(b"NATS/1.0")
# What the hook replaces, as the parser calls it, and the counters it keeps.
PROCESS_MSG = (
    "self",
    "sid: int",
    "subject: bytes",
    "reply: bytes",
    "data: bytes",
    "headers: bytes",
)
COUNTERS = frozenset({"in_msgs", "in_bytes"})
log = structlog.get_logger("corral.bus")


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
    """Whether this client is one the hook was checked against; if not, says so once."""
    client: type = type(nc)
    unknown = _unknown_shape(client) or ("" if nc.stats.keys() >= COUNTERS else "stats")
    if unknown:
        _unavailable(client, unknown)
    return not unknown


@functools.cache
def _unknown_shape(client: type) -> str:
    """What of ``client._process_msg`` differs from the checked one; "" if nothing."""
    method = getattr(client, "_process_msg", None)
    if method is None:
        return "no _process_msg"
    if not inspect.iscoroutinefunction(method):
        return "_process_msg is not a coroutine function"
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return "_process_msg has no signature"
    described = tuple(_described(parameter) for parameter in parameters)
    positional = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    if described != PROCESS_MSG or not positional:
        return f"_process_msg({', '.join(described)})"
    return ""


def _described(parameter: inspect.Parameter) -> str:
    """``name: type``, the same whether annotations are strings or evaluated."""
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return parameter.name
    shown = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "?")
    return f"{parameter.name}: {shown}"


@functools.cache
def _unavailable(client: type, reason: str) -> None:
    try:
        version = importlib.metadata.version("nats-py")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    log.warning(
        "raw_route_unavailable",
        nats_py=version,
        client=f"{client.__module__}.{client.__qualname__}",
        reason=reason,
    )


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
