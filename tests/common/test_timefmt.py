"""common/timefmt.py: the fast path renders exactly what datetime.isoformat renders."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from common.timefmt import rfc3339


def reference(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.floats(min_value=0, max_value=2**32, allow_nan=False))
def test_rfc3339_matches_datetime_isoformat(timestamp: float) -> None:
    assert rfc3339(timestamp) == reference(timestamp)


def test_rfc3339_carries_rounding_into_the_next_second() -> None:
    assert rfc3339(1.9999996) == reference(1.9999996) == "1970-01-01T00:00:02.000Z"
    assert rfc3339(None) is None
