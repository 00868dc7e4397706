"""Jobs published straight onto the bus, bypassing the controller (promise 4).

Unsigned, tampered, signed by an unknown key, addressed to another agent,
expired, clock-skewed (+-10 min) and replayed jobs must never run. Each forged job carries a
side-effect counter operation, so "never executed" is checked on the host,
not only in the agent's log.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from pathlib import Path

import msgspec

from common import subjects
from common.messages import (
    JOB_SPEC_DECODER,
    SIGNED_JOB_DECODER,
    JobSpec,
    Operation,
    SignedJob,
    encode,
)
from common.signing import Signer, generate, load_private
from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op

VICTIM = "victim.test"


def spec_for(operation: str, data: dict[str, object], **changes: object) -> JobSpec:
    now = time.time()
    spec = JobSpec(
        job_id=str(uuid.uuid4()),
        operation=Operation(type=operation, data=data),
        target=VICTIM,
        issued_at=now,
        deadline=now + 30,
        timeout=30,
    )
    return msgspec.structs.replace(spec, **changes)


def shifted(spec: JobSpec, seconds: float) -> JobSpec:
    return msgspec.structs.replace(
        spec, issued_at=spec.issued_at + seconds, deadline=spec.deadline + seconds
    )


async def agent_idle(cluster: Cluster, hostname: str) -> bool:
    js = (await cluster.bus()).jetstream()
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(hostname))
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_forged_jobs_published_on_the_bus_never_run(cluster: Cluster, counter: Path) -> None:
    await cluster.add_controller()
    agent = await cluster.add_agent(VICTIM, allow=["test.counter", "test.ping", "command.exec"])
    js = (await cluster.bus()).jetstream()
    signer = Signer(load_private(str(cluster.private_key)))
    stranger = Signer(generate())
    subject = subjects.job_for_host(VICTIM)

    # One legitimate job through the API (the agent's own test.counter probe,
    # which appends the job id to the file): it runs once.
    job_id = await cluster.submit("test.counter", {"path": str(counter)}, VICTIM, job_timeout=20)
    assert (await cluster.final(job_id))["status"] == "completed"
    original = await js.get_last_msg(subjects.JOBS_STREAM, subject)

    forged: dict[str, bytes] = {}

    def forge(name: str, make: object) -> None:
        op, data, token = counter_op(counter)
        forged[token] = make(spec_for(op, data))  # type: ignore[operator]

    forge("unsigned", lambda s: encode(SignedJob(payload=encode(s))))
    forge(
        "tampered",
        lambda s: encode(
            msgspec.structs.replace(
                signer.sign(encode(spec_for("test.ping", {}))), payload=encode(s)
            )
        ),
    )
    forge("unknown key", lambda s: encode(stranger.sign(encode(s))))
    forge(
        "wrong target",
        lambda s: encode(signer.sign(encode(msgspec.structs.replace(s, target="other.test")))),
    )
    forge(
        "expired",
        lambda s: encode(signer.sign(encode(msgspec.structs.replace(s, deadline=time.time() - 1)))),
    )
    # Signed by the real key, but as this agent's clock would see them if it
    # were 10 minutes behind (issued in the future) or ahead (long expired).
    forge("clock behind", lambda s: encode(signer.sign(encode(shifted(s, 600)))))
    forge("clock ahead", lambda s: encode(signer.sign(encode(shifted(s, -600)))))
    for payload in forged.values():
        await js.publish(subject, payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
    # The legitimate job's exact bytes again, under a new message id: as if
    # replayed after the duplicate window.
    await js.publish(subject, original.data or b"", headers={"Nats-Msg-Id": uuid.uuid4().hex})

    await until(lambda: agent_idle(cluster, VICTIM), "the agent handled every forged job")
    after = await cluster.submit("test.ping", target=VICTIM, job_timeout=10)
    assert (await cluster.final(after))["status"] == "completed"

    assert counter_runs(counter, job_id) == {"*": 1}, "the replayed job ran again"
    ran = {token: counter_runs(counter, token) for token in forged}
    assert not any(ran.values()), ran
    refusals = [line.get("reason") for line in agent.events("job_refused")]
    assert refusals.count("bad_signature") >= 3, refusals
    assert "not_addressed" in refusals, refusals
    assert refusals.count("clock_skew") == 2, refusals


async def any_idle(cluster: Cluster) -> bool:
    js = (await cluster.bus()).jetstream()
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.ANY_CONSUMER)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_a_captured_any_job_replayed_on_any_subject_never_runs_again(
    cluster: Cluster, counter: Path
) -> None:
    """Read back from the stream and re-published with fresh message ids, on
    ``corral.job.any`` (fresh, then expired), ``corral.job.all`` and another
    host's subject: the claim stops the first, the subject binding the others,
    and the finished record gains no answer."""
    await cluster.add_controller()
    hosts = ["replay-1.test", "replay-2.test", "replay-3.test"]
    for host in hosts:
        await cluster.add_agent(host)
    js = (await cluster.bus()).jetstream()
    op, data, token = counter_op(counter)
    job_id = await cluster.submit(op, data, "_any", job_timeout=4)
    before = await cluster.final(job_id)
    winner = before["hostname"]
    captured = (await js.get_last_msg(subjects.JOBS_STREAM, subjects.JOB_ANY)).data or b""
    deadline = JOB_SPEC_DECODER.decode(SIGNED_JOB_DECODER.decode(captured).payload).deadline
    other = next(host for host in hosts if host != winner)
    others = [host for host in hosts if host != winner]

    async def replay(subject: str) -> None:
        await js.publish(subject, captured, headers={"Nats-Msg-Id": uuid.uuid4().hex})

    # The winner paused: the _any copies can only go to agents that lost the claim.
    cluster.agents[winner].pause()
    try:
        await replay(subjects.JOB_ANY)
        await replay(subjects.JOB_ALL)
        await replay(subjects.job_for_host(other))
        await until(lambda: any_idle(cluster), "the _any copy handled")
        for host in others:
            await until(functools.partial(agent_idle, cluster, host), f"{host} handled its copies")
        await asyncio.sleep(max(0.0, deadline + 1 - time.time()))  # time itself: past the deadline
        await replay(subjects.JOB_ANY)
        await until(lambda: any_idle(cluster), "the expired _any copy handled")
    finally:
        cluster.agents[winner].resume()
    await until(cluster.jobs_settled, "every copy handled")

    assert counter_runs(counter, token) == {winner: 1}, "a replayed _any job ran again"
    after = await cluster.detail(job_id)
    assert set(after["agent_states"]) == {winner}, after["agent_states"]
    assert after["status"] == before["status"] == "completed"
    assert sum(cluster.refused("claimed").values()) == 2  # fresh and expired
    # _all: every agent; the other host's subject: that agent.
    not_addressed = cluster.refused("not_addressed")
    assert not_addressed == {host: 1 + (host == other) for host in hosts}, not_addressed
