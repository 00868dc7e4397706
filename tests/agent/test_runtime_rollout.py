"""A rollout's copy runs only on the one agent it names, sent on that agent's subject."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import pytest

from agent.claims import Claims
from agent.events import EventPublisher
from agent.runtime import Refused, Runtime
from common import subjects
from common.messages import JobSpec, Operation, encode
from common.signing import Signer, Verifier, load_private, load_public, write_keypair

HOST = "web-1.dev"
LABELS = {"group": "web.dev"}


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Signer, Runtime]:
    private, public = write_keypair(tmp_path)
    runtime = Runtime(
        hostname=HOST,
        labels=LABELS,
        allowed=frozenset({"test.ping"}),
        verifier=Verifier(load_public(str(public))),
        # verify() uses neither: it decides before anything is sent or claimed.
        publisher=cast(EventPublisher, None),
        claims=cast(Claims, None),
    )
    return Signer(load_private(str(private))), runtime


def copy(signer: Signer, host: str, target: str = "group:web") -> bytes:
    now = time.time()
    spec = JobSpec(
        job_id="job-1",
        operation=Operation(type="test.ping"),
        target=target,
        issued_at=now,
        deadline=now + 30,
        timeout=30,
        host=host,
    )
    return encode(signer.sign(encode(spec)))


def test_a_copy_for_this_agent_on_its_host_subject_is_taken(keys: tuple[Signer, Runtime]) -> None:
    signer, runtime = keys
    spec, target = runtime.verify(copy(signer, HOST), subjects.job_for_host(HOST))
    assert (spec.host, target.kind) == (HOST, "label")


@pytest.mark.parametrize(
    ("host", "target", "subject"),
    [
        ("web-2.dev", "group:web", subjects.job_for_host(HOST)),  # another agent's copy
        (HOST, "group:web", subjects.job_for_label("group", "web")),  # off its host subject
        (HOST, "group:db", subjects.job_for_host(HOST)),  # a label this agent lacks
        (HOST, "_all", subjects.JOB_ALL),  # a copy replayed as a broadcast
    ],
)
def test_a_copy_anywhere_else_is_refused(
    keys: tuple[Signer, Runtime], host: str, target: str, subject: str
) -> None:
    signer, runtime = keys
    with pytest.raises(Refused) as caught:
        runtime.verify(copy(signer, host, target), subject)
    assert caught.value.reason == "not_addressed"
