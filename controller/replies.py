"""Redis reply values as text or bytes. Pure.

The client runs with ``decode_responses`` off, so replies are bytes; these
also accept ``str`` (a script's status reply, a client configured otherwise).
"""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
