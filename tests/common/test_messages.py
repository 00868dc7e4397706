"""Wire messages (common/messages.py): values a record could not render, new fields."""

from __future__ import annotations

import math

import msgspec
import pytest

from common.messages import (
    EVENT_DECODER,
    HEARTBEAT_DECODER,
    JOB_SPEC_DECODER,
    Facts,
    JobSpec,
    Operation,
    encode,
)


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


class JobSpecBeforeDryRun(msgspec.Struct, frozen=True, kw_only=True):
    """JobSpec as agents older than dry run decode it."""

    job_id: str
    operation: Operation
    target: str
    issued_at: float
    deadline: float
    timeout: float


def test_dry_run_is_a_new_field_with_a_default_both_ways() -> None:
    spec = JobSpec(
        job_id="j",
        operation=Operation(type="command.exec", data={"argv": ["true"]}),
        target="_any",
        issued_at=1.0,
        deadline=2.0,
        timeout=1.0,
        dry_run=True,
    )
    old = msgspec.msgpack.decode(encode(spec), type=JobSpecBeforeDryRun)
    assert old.operation == spec.operation  # an older agent skips the field
    older = msgspec.msgpack.encode(old)
    assert JOB_SPEC_DECODER.decode(older).dry_run is False
    assert HEARTBEAT_DECODER.decode(
        msgspec.msgpack.encode({"hostname": "h", "sent_at": 1.0, "interval": 5.0})
    ).facts == Facts(dry_run=False)
