"""`_any` claims and subject binding in the agent's pipeline, against real servers.

Jobs here are signed with the stack's own key and published straight onto
the bus, as the controller would (or as someone replaying a captured job
would), so the test chooses the job id and the subject.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from agent.daemon import Agent
from agent.events import EventPublisher
from common import subjects
from common.messages import Event, JobSpec, Operation, encode
from common.signing import Signer, load_private
from controller.streams import DEFAULT_CLAIMS_MAX_AGE, any_consumer_config, ensure_claims
from devstack.until import until
from tests.harness import Stack

ALLOW = ("test.counter", "test.ping")


def signed(stack: Stack, target: str, counter: Path) -> tuple[str, bytes]:
    signer = Signer(load_private(str(stack.public_key.with_suffix(".key"))))
    now = time.time()
    spec = JobSpec(
        job_id=str(uuid.uuid4()),
        operation=Operation(type="test.counter", data={"path": str(counter)}),
        target=target,
        issued_at=now,
        deadline=now + 30,
        timeout=30,
    )
    return spec.job_id, encode(signer.sign(encode(spec)))


async def publish(nc: NATS, subject: str, payload: bytes) -> None:
    await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})


async def settled(nc: NATS, consumer: str) -> bool:
    info = await nc.jetstream().consumer_info(subjects.JOBS_STREAM, consumer)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def unacked(nc: NATS) -> bool:
    info = await nc.jetstream().consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    return bool(info.num_ack_pending == 1 and info.num_redelivered == 1)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_an_agent_that_lost_the_claim_acks_and_says_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    agent = await stack.start_agent("loser.test", allow=ALLOW)
    counter = tmp_path / "counter"
    job_id, payload = signed(stack, "_any", counter)
    nc = await nats.connect(stack.nats_url)
    try:
        bucket = await nc.jetstream().key_value(subjects.CLAIMS_BUCKET)
        await bucket.update(job_id, b"winner.test", last=0)
        await publish(nc, subjects.JOB_ANY, payload)
        await until(lambda: settled(nc, subjects.ANY_CONSUMER), "the job acked by the loser")
    finally:
        await nc.close()
    assert agent.runtime.refused == {"claimed": 1}
    assert agent.runtime.completed == 0  # no terminal event was published
    assert lines(counter) == []


async def test_without_an_answer_from_the_claims_the_job_waits_then_runs_once(
    stack: Stack, tmp_path: Path
) -> None:
    agent = await stack.start_agent("patient.test", allow=ALLOW)
    counter = tmp_path / "counter"
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        # Redelivered within seconds rather than the default 30 s.
        fast = dataclasses.replace(any_consumer_config(), ack_wait=2.0)
        await js.add_consumer(subjects.JOBS_STREAM, fast)
        await js.delete_key_value(subjects.CLAIMS_BUCKET)
        job_id, payload = signed(stack, "_any", counter)
        await publish(nc, subjects.JOB_ANY, payload)
        await until(lambda: unacked(nc), "the job left unacked and redelivered")
        assert lines(counter) == []
        await ensure_claims(js, 1, DEFAULT_CLAIMS_MAX_AGE)
        await until(lambda: settled(nc, subjects.ANY_CONSUMER), "the redelivery run")
    finally:
        await nc.close()
    assert lines(counter) == [job_id]
    assert agent.runtime.completed == 1


async def test_a_job_is_refused_on_a_subject_its_target_does_not_map_to(
    stack: Stack, tmp_path: Path
) -> None:
    agents: list[Agent] = [
        await stack.start_agent(host, labels={"group": "web.dev"}, allow=ALLOW)
        for host in ("bound-1.test", "bound-2.test")
    ]
    counter = tmp_path / "counter"
    nc = await nats.connect(stack.nats_url)
    try:
        _, for_one = signed(stack, "bound-1.test", counter)
        _, for_any = signed(stack, "_any", counter)
        _, for_label = signed(stack, "group:web", counter)
        await publish(nc, subjects.JOB_ALL, for_one)  # both agents hear it
        await publish(nc, subjects.job_for_host("bound-2.test"), for_any)
        await publish(nc, subjects.job_for_label("group", "web.dev"), for_label)
        for agent in agents:
            consumer = subjects.agent_consumer(agent.hostname)
            await until(functools.partial(settled, nc, consumer), f"{consumer} handled every job")
    finally:
        await nc.close()
    assert lines(counter) == []
    assert agents[0].runtime.refused == {"not_addressed": 2}
    assert agents[1].runtime.refused == {"not_addressed": 3}


class Unsteady(EventPublisher):
    """As if JetStream had not stored the first terminal event in all its tries."""

    failed = 0

    async def store(self, event: Event, attempts: int = 5) -> bool:
        if not self.failed:
            self.failed += 1
            return False
        return await super().store(event, attempts)


async def test_the_claim_holder_keeps_trying_to_store_its_answer(stack: Stack) -> None:
    """No other agent will answer an `_any` job it holds the claim of: a
    redelivery may reach one that lost the claim, which stays silent."""
    agent = await stack.start_agent("holder.test", allow=ALLOW)
    publisher = Unsteady(agent.nc, "holder.test")
    agent.runtime.publisher = publisher
    job_id = await stack.submit("test.ping", target="_any", job_timeout=20)
    # Well within the shared consumer's 30 s ack wait: answered, not redelivered.
    detail = await stack.final(job_id, within=10)
    assert detail["status"] == "completed"
    assert publisher.failed == 1
    assert detail["agent_states"]["holder.test"]["attempt"] == 1
