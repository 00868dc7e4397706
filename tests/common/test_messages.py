"""Wire messages reject values a record could not render (common/messages.py)."""

from __future__ import annotations

import math

import msgspec
import pytest

from common.messages import EVENT_DECODER, HEARTBEAT_DECODER


def event(**fields: object) -> bytes:
    base = {"event": "completed", "event_id": "e", "job_id": "j", "hostname": "h"}
    return msgspec.msgpack.encode({**base, **fields})


@pytest.mark.parametrize("timestamp", [math.nan, math.inf, -math.inf, -1.0, 1e12])
def test_an_event_with_an_impossible_timestamp_is_malformed(timestamp: float) -> None:
    with pytest.raises(msgspec.ValidationError, match="timestamp"):
        EVENT_DECODER.decode(event(timestamp=timestamp))


@pytest.mark.parametrize("duration", [math.nan, math.inf, -0.5])
def test_an_event_with_an_impossible_duration_is_malformed(duration: float) -> None:
    with pytest.raises(msgspec.ValidationError, match="duration"):
        EVENT_DECODER.decode(event(timestamp=1.0, duration=duration))


def test_ordinary_values_decode() -> None:
    decoded = EVENT_DECODER.decode(event(timestamp=1_700_000_000.25, duration=0.5))
    assert decoded.timestamp == 1_700_000_000.25


def test_a_heartbeat_with_an_impossible_clock_is_malformed() -> None:
    beat = msgspec.msgpack.encode({"hostname": "h", "sent_at": math.nan, "interval": 5.0})
    with pytest.raises(msgspec.ValidationError, match="sent_at"):
        HEARTBEAT_DECODER.decode(beat)
