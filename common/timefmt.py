"""RFC 3339 rendering of wire timestamps (float seconds, UTC). Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
