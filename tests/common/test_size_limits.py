"""Size limits that agree, pure parts: the submit bound and the agent's fit.

- :func:`controller.api.bodies.check_publishable` must refuse every job whose
  signed message would be over :data:`common.limits.MAX_JOB_BYTES`, so its
  envelope allowance is checked against real signed encodings;
- :func:`agent.events.fit` must turn a terminal event over the event limit
  into a ``failed`` "result too large" that fits, the same every time.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from agent.events import fit
from common.config import MAX_OUTPUT_BYTES, ConfigError, load_agent
from common.errors import InvalidRequest, PayloadTooLarge
from common.limits import JOB_ENVELOPE_BYTES, MAX_EVENT_BYTES, MAX_JOB_BYTES
from common.messages import (
    ENCODER,
    Cancelled,
    Completed,
    Failed,
    JobSpec,
    Operation,
    event_id,
)
from common.signing import Signer
from controller.api.bodies import check_publishable

SIGNER = Signer(Ed25519PrivateKey.generate())
JOB_ID = "6f1c3a55-2a4e-4d8e-9f0b-0a4c1d2e3f40"
DATA = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
TARGETS = st.sampled_from(["_any", "_all", "group:web.prod", "a" * 253])


def signed_size(operation: Operation, target: str) -> int:
    """The job message exactly as the controller publishes it (controller/jobs/group_commit.py)."""
    spec = JobSpec(
        job_id=JOB_ID,
        operation=operation,
        target=target,
        issued_at=1.7e9 + 0.123456789,
        deadline=1.7e9 + 86400.987654321,
        timeout=86400.0,
    )
    return len(ENCODER.encode(SIGNER.sign(ENCODER.encode(spec))))


@given(data=DATA, target=TARGETS)
def test_the_envelope_allowance_covers_a_real_signed_job(data: object, target: str) -> None:
    operation = Operation(type="test.echo", data={"data": data})
    bound = len(ENCODER.encode(operation)) + len(target.encode()) + JOB_ENVELOPE_BYTES
    assert signed_size(operation, target) <= bound


@pytest.mark.parametrize("target", ["_any", "a" * 253])
def test_a_job_is_refused_exactly_when_it_may_not_fit(target: str) -> None:
    empty = Operation(type="test.echo", data={"data": ""})
    # Past 65535 bytes a str takes a 5-byte header, the empty one's takes 1.
    room = MAX_JOB_BYTES - JOB_ENVELOPE_BYTES - len(target) - len(ENCODER.encode(empty)) - 4
    largest = Operation(type="test.echo", data={"data": "x" * room})
    check_publishable(largest, target)
    assert signed_size(largest, target) <= MAX_JOB_BYTES
    with pytest.raises(PayloadTooLarge) as raised:
        check_publishable(Operation(type="test.echo", data={"data": "x" * (room + 1)}), target)
    assert raised.value.code == 413
    assert f"over the {MAX_JOB_BYTES}-byte message limit" in raised.value.details


def completed(result: object, changed: bool = False) -> Completed:
    return Completed(
        event_id=event_id(JOB_ID, "web-1.example", 2, "completed"),
        job_id=JOB_ID,
        hostname="web-1.example",
        timestamp=1.7e9,
        attempt=2,
        result=result,
        changed=changed,
        duration=1.5,
    )


def test_an_event_that_fits_is_sent_as_it_is() -> None:
    event = completed({"out": "x" * 1000})
    assert fit(event) == (event, ENCODER.encode(event))


def test_a_result_over_the_limit_becomes_failed_result_too_large() -> None:
    event = completed({"out": "\ufffd" * (MAX_EVENT_BYTES // 3 + 10)}, changed=True)
    size = len(ENCODER.encode(event))
    sent, payload = fit(event)
    assert isinstance(sent, Failed)
    assert len(payload) <= MAX_EVENT_BYTES
    assert sent.event_id == event_id(JOB_ID, "web-1.example", 2, "failed")
    assert (sent.attempt, sent.timestamp, sent.duration) == (2, event.timestamp, 1.5)
    assert sent.error.startswith(f"result too large: {size} bytes encoded")
    assert f"over the {MAX_EVENT_BYTES}-byte limit" in sent.error
    assert "changed the system" in sent.error
    # A re-sent copy (redelivery, journal replay) is the same event.
    assert fit(event) == (sent, payload)


def test_a_huge_error_or_cancel_is_replaced_too() -> None:
    for event in (
        Failed(
            event_id=event_id(JOB_ID, "h", 1, "failed"),
            job_id=JOB_ID,
            hostname="h",
            timestamp=1.0,
            error="e" * MAX_EVENT_BYTES,
        ),
        Cancelled(
            event_id=event_id(JOB_ID, "h", 1, "cancelled"),
            job_id=JOB_ID,
            hostname="h",
            timestamp=1.0,
            error="c" * MAX_EVENT_BYTES,
        ),
    ):
        sent, payload = fit(event)
        assert isinstance(sent, Failed)
        assert len(payload) < 1024
        assert sent.event_id == event_id(JOB_ID, "h", 1, "failed")


def test_a_smaller_limit_is_honoured() -> None:
    sent, payload = fit(completed("x" * 5000), limit=4096)
    assert isinstance(sent, Failed)
    assert "over the 4096-byte limit" in sent.error
    assert len(payload) <= 4096


def test_an_integer_msgpack_cannot_carry_is_a_400_not_a_500() -> None:
    with pytest.raises(InvalidRequest) as raised:
        check_publishable(Operation(type="test.echo", data={"data": 2**64}), "_any")
    assert raised.value.code == 400
    assert raised.value.details.startswith("operation.data: ")


def test_an_agent_output_cap_that_cannot_fit_one_event_is_refused_at_load() -> None:
    env = {"CORRAL_HOSTNAME": "web-1.example"}
    assert (
        load_agent(env, {"max_output_bytes": MAX_OUTPUT_BYTES}).max_output_bytes == MAX_OUTPUT_BYTES
    )
    with pytest.raises(ConfigError, match=f"must be at most {MAX_OUTPUT_BYTES}"):
        load_agent(env, {"max_output_bytes": MAX_OUTPUT_BYTES + 1})
    assert 2 * MAX_OUTPUT_BYTES < MAX_EVENT_BYTES
