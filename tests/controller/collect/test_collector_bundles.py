"""Several events of one job in one message (agent/events.py) through the collector. Pure."""

from __future__ import annotations

import uuid
from collections import Counter

from common import subjects
from common.messages import (
    ENCODER,
    Acknowledged,
    Completed,
    Event,
    Started,
    event_id,
    event_kind,
)
from controller.collect.collector import decode_batch

JOB = str(uuid.uuid4())
HOST = "web-1.test"


def make(kind: type[Event], host: str = HOST, claimed: str = HOST) -> Event:
    tag = str(kind.__struct_config__.tag)
    return kind(event_id=event_id(JOB, claimed, 1, tag), job_id=JOB, hostname=host, timestamp=1.0)


def delivery(data: bytes, host: str = HOST) -> tuple[bytes, str, bytes]:
    return subjects.events_of(host).encode(), f"$JS.ACK.reply.{uuid.uuid4().hex}", data


def test_a_bundle_is_folded_event_by_event_and_acked_once() -> None:
    events = [make(Acknowledged), make(Started), make(Completed)]
    rejected: Counter[str] = Counter()
    grouped, good, bad = decode_batch([delivery(ENCODER.encode(events))], rejected)
    assert [event_kind(e) for e, _ in grouped[JOB]] == ["acknowledged", "started", "completed"]
    # Each event is stored as its own encoding, as a single-event message would be.
    assert [blob for _, blob in grouped[JOB]] == [ENCODER.encode(e) for e in events]
    assert len(good) == 1
    assert not bad
    assert not rejected


def test_single_events_and_bundles_mix_in_one_batch() -> None:
    batch = [
        delivery(ENCODER.encode(make(Acknowledged))),
        delivery(ENCODER.encode([make(Started)])),
    ]
    grouped, good, bad = decode_batch(batch, Counter())
    assert [event_kind(e) for e, _ in grouped[JOB]] == ["acknowledged", "started"]
    assert len(good) == 2
    assert not bad


def test_one_event_for_another_agent_rejects_its_whole_bundle() -> None:
    bundle = [make(Started), make(Completed, host="db-1.test", claimed="db-1.test")]
    rejected: Counter[str] = Counter()
    grouped, good, bad = decode_batch([delivery(ENCODER.encode(bundle))], rejected)
    assert grouped == {}
    assert good == []
    assert len(bad) == 1
    assert rejected == {"wrong_agent": 1}


def test_a_forged_event_rejects_its_whole_bundle() -> None:
    bundle = [make(Started), make(Completed, claimed="db-1.test")]
    rejected: Counter[str] = Counter()
    grouped, _, bad = decode_batch([delivery(ENCODER.encode(bundle))], rejected)
    assert grouped == {}
    assert len(bad) == 1
    assert rejected == {"forged": 1}


def test_an_empty_bundle_is_malformed() -> None:
    rejected: Counter[str] = Counter()
    grouped, _, bad = decode_batch([delivery(ENCODER.encode([]))], rejected)
    assert grouped == {}
    assert len(bad) == 1
    assert rejected == {"malformed": 1}
