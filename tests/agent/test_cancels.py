"""Cancel requests for the runtimes of one process (agent/cancels.py).

The listener is driven directly with signed request bytes; the runtimes are
real, with in-memory journals, and never reach NATS (no job runs through
them). The subscription itself is exercised end to end by
tests/agent/test_runtime_cancel.py (one agent) and tests/bench/test_swarm.py
(a swarm).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client as NATS

from agent.cancels import Cancels
from agent.claims import Claims
from agent.events import EventPublisher
from agent.runtime import Active, Runtime
from common.messages import ENCODER, CancelRequest, SignedJob
from common.signing import Signer, Verifier

PRIVATE = Ed25519PrivateKey.generate()
SIGNER = Signer(PRIVATE)


def runtime(hostname: str) -> Runtime:
    return Runtime(
        hostname=hostname,
        labels={},
        allowed=frozenset({"test.sleep"}),
        verifier=Verifier([PRIVATE.public_key()]),
        publisher=EventPublisher(NATS(), hostname),  # never connected: nothing is published
        claims=Claims(NATS().jetstream(), hostname),
    )


def sharing(count: int) -> list[Runtime]:
    """Runtimes as a swarm builds them: one set of cancelled job ids."""
    runtimes = [runtime(f"h{index}.test") for index in range(count)]
    for other in runtimes[1:]:
        other.cancelled = runtimes[0].cancelled
    return runtimes


def request(job_id: str) -> bytes:
    return ENCODER.encode(CancelRequest(job_id=job_id, requested_at=time.time()))


def signed(job_id: str) -> bytes:
    return ENCODER.encode(SIGNER.sign(request(job_id)))


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    found = sharing(3)
    yield found
    for each in found:
        each.journal.close()


async def test_a_request_is_remembered_once_and_journaled_by_every_runtime(
    runtimes: list[Runtime],
) -> None:
    await Cancels(runtimes).request(signed("job-1"))
    assert list(runtimes[0].cancelled) == ["job-1"]
    for each in runtimes:
        entry = await each.journal.get("job-1")
        assert entry is not None
        assert entry.cancelled  # a later delivery is refused


async def test_only_the_runtime_running_the_job_stops_an_operation(
    runtimes: list[Runtime],
) -> None:
    operation = asyncio.create_task(asyncio.Event().wait())
    runtimes[1].active["job-2"] = Active(seq=1, msgs=[], op=operation)
    await Cancels(runtimes).request(signed("job-2"))
    with pytest.raises(asyncio.CancelledError):
        await operation
    assert not runtimes[0].active
    assert not runtimes[2].active


async def test_a_forged_request_is_refused_and_counted_once(runtimes: list[Runtime]) -> None:
    await Cancels(runtimes).request(ENCODER.encode(SignedJob(payload=request("job-3"))))
    assert runtimes[0].refused == {"bad_signature": 1}
    assert not any(each.refused for each in runtimes[1:])
    assert not runtimes[0].cancelled
    assert await runtimes[0].journal.get("job-3") is None


def test_runtimes_that_do_not_share_their_cancelled_set_are_refused() -> None:
    apart = [runtime("a.test"), runtime("b.test")]
    with pytest.raises(ValueError, match="share"):
        Cancels(apart)
    with pytest.raises(ValueError, match="at least one"):
        Cancels([])
