"""RFC 3339 rendering of wire timestamps (float seconds, UTC). Pure.

A 1,000-agent job's detail renders about 6,000 timestamps, so this is on the
hot read path: the whole-second part is formatted once per second (cached),
and the milliseconds are appended, with ``datetime.fromtimestamp``'s rounding
(microseconds half-even, then truncated to milliseconds by ``isoformat``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    return datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    frac, whole = math.modf(timestamp)
    micros = round(frac * 1_000_000)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds, micros = seconds + 1, micros - 1_000_000
    elif micros < 0:
        seconds, micros = seconds - 1, micros + 1_000_000
    return f"{_second(seconds)}.{micros // 1000:03d}Z"
