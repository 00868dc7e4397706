"""The collector's per-event checks (pure): forged ids and kinds, bad subjects."""

from __future__ import annotations

import uuid

import pytest

from common import subjects
from common.messages import Completed, Started, Submitted, TimedOut, event_id
from controller.collect.collector import forged, hostname_of

JOB = str(uuid.uuid4())


def test_an_agents_own_event_passes() -> None:
    event = Completed(
        event_id=event_id(JOB, "a.test", 2, "completed"),
        job_id=JOB,
        hostname="a.test",
        timestamp=1.0,
        attempt=2,
    )
    assert not forged(event)


@pytest.mark.parametrize(
    "event",
    [
        # Another agent's id: first copy wins, so it would suppress b's answer.
        Completed(
            event_id=event_id(JOB, "b.test", 1, "completed"),
            job_id=JOB,
            hostname="a.test",
            timestamp=1.0,
        ),
        # The right id scheme for another kind.
        Started(
            event_id=event_id(JOB, "a.test", 1, "completed"),
            job_id=JOB,
            hostname="a.test",
            timestamp=1.0,
        ),
        # Kinds and attempt 0 only the controller writes.
        TimedOut(
            event_id=event_id(JOB, "a.test", 1, "timeout"),
            job_id=JOB,
            hostname="a.test",
            timestamp=1.0,
        ),
        Submitted(
            event_id=event_id(JOB, "a.test", 1, "submitted"),
            job_id=JOB,
            hostname="a.test",
            timestamp=1.0,
        ),
        Completed(
            event_id=event_id(JOB, "a.test", 0, "completed"),
            job_id=JOB,
            hostname="a.test",
            timestamp=1.0,
            attempt=0,
        ),
    ],
)
def test_an_event_passing_for_someone_else_is_forged(event: Completed) -> None:
    assert forged(event)


def test_an_undecodable_subject_belongs_to_nobody_instead_of_raising() -> None:
    assert hostname_of("corral.event.~") == ""
    assert hostname_of("corral.event.~ZZ") == ""
    assert hostname_of(subjects.events_of("web-1.test")) == "web-1.test"
