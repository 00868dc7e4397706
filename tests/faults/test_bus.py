"""Events injected live on the bus (promises 3 and 5, and a consumer that never stalls).

The test speaks for a ghost agent: it sends the ghost's heartbeats (so the
controller expects it) and then its job events, duplicated and out of order,
plus malformed, oversized, unknown-job, wrong-agent and stranger events.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from nats.js import JetStreamContext

from common import subjects
from common.messages import (
    Acknowledged,
    Completed,
    Event,
    Heartbeat,
    Started,
    encode,
    event_id,
)
from devstack.until import until
from tests.faults.cluster import Cluster

GHOST = "ghost.test"


async def haunt(cluster: Cluster) -> None:
    """Make the controller see a live agent named GHOST."""
    bus = await cluster.bus()
    beat = Heartbeat(hostname=GHOST, sent_at=time.time(), interval=60.0)
    await bus.publish(subjects.heartbeat_of(GHOST), encode(beat))
    await bus.flush()
    await cluster.online(GHOST)


def ghost_events(job_id: str, host: str = GHOST) -> list[Event]:
    now = time.time()
    kinds: list[tuple[type[Event], dict[str, object]]] = [
        (Acknowledged, {}),
        (Started, {}),
        (Completed, {"result": {"ghost": True}, "changed": False, "duration": 0.1}),
    ]
    return [
        kind(
            event_id=event_id(job_id, host, 1, kind.__struct_config__.tag),  # type: ignore[arg-type]
            job_id=job_id,
            hostname=host,
            timestamp=now + i * 0.01,
            **fields,  # type: ignore[arg-type]
        )
        for i, (kind, fields) in enumerate(kinds)
    ]


async def send(js: JetStreamContext, host: str, payload: bytes) -> None:
    # A fresh message id each time: the duplicate window must not be what saves us.
    await js.publish(subjects.events_of(host), payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})


async def test_duplicated_and_reordered_events_count_once(cluster: Cluster) -> None:
    await cluster.add_controller()
    await haunt(cluster)
    job_id = await cluster.submit("test.ping", target=GHOST, job_timeout=20)
    checker = cluster.checker()
    checker.track(job_id, 20)
    ack, started, completed = ghost_events(job_id)
    js = (await cluster.bus()).jetstream()
    for event in (completed, started, completed, ack, started, completed, ack):
        await send(js, GHOST, encode(event))

    await until(cluster.events_settled, "every event folded and acked")
    detail = await cluster.final(job_id)
    assert detail["status"] == "completed"
    assert detail["result"] == {"ghost": True}
    kinds = [e["event"] for e in detail["timeline"]]
    assert kinds == ["submitted", "acknowledged", "started", "completed"]
    assert int(await cluster.store.hget(f"corral:{{{job_id}}}:job", "done") or 0) == 1
    (await checker.check()).assert_clean()


async def test_malformed_wrong_agent_and_unknown_job_events_are_rejected_consumer_flows(
    cluster: Cluster,
) -> None:
    controller = await cluster.add_controller()
    await cluster.add_agent("real.test")
    await haunt(cluster)
    job_id = await cluster.submit("test.ping", target=GHOST, job_timeout=3)
    checker = cluster.checker()
    checker.track(job_id, 3)
    js = (await cluster.bus()).jetstream()
    completed = ghost_events(job_id)[2]
    await send(js, GHOST, b"\xc1 not msgpack at all")
    await send(js, GHOST, encode(Heartbeat(hostname=GHOST, sent_at=0, interval=1)))
    await send(js, "real.test", encode(completed))  # the ghost's event on another's subject
    await send(js, GHOST, encode(ghost_events(str(uuid.uuid4()))[2]))  # no such job

    # The consumer still flows: a real job after the garbage completes.
    real = await cluster.submit("test.ping", target="real.test", job_timeout=10)
    checker.track(real, 10)
    assert (await cluster.final(real))["status"] == "completed"
    detail = await cluster.final(job_id, within=15)
    # The ghost never answered for itself: failed at the deadline, not completed.
    assert detail["status"] == "failed"
    assert detail["agent_states"][GHOST]["status"] == "timeout"
    assert detail["result"] is None
    await until(cluster.events_settled, "nothing left pending or unacked")
    reasons = [str(line.get("reason")) for line in controller.events("message_rejected")]
    assert len(reasons) == 4, reasons
    assert "unknown job" in reasons
    assert any("another agent" in r for r in reasons), reasons
    (await checker.check()).assert_clean()


async def test_event_from_an_agent_the_job_does_not_expect_changes_nothing(
    cluster: Cluster,
) -> None:
    await cluster.add_controller()
    await haunt(cluster)
    job_id = await cluster.submit("test.ping", target=GHOST, job_timeout=3)
    checker = cluster.checker()
    checker.track(job_id, 3)
    js = (await cluster.bus()).jetstream()
    # On its own subject, so the subject check passes; but the job is GHOST's.
    await send(js, "stranger.test", encode(ghost_events(job_id, "stranger.test")[2]))
    await until(cluster.events_settled, "the stranger's event handled")
    assert (await cluster.detail(job_id))["status"] not in {"completed", "failed"}
    detail = await cluster.final(job_id, within=15)
    assert detail["status"] == "failed"
    assert detail["agent_states"][GHOST]["status"] == "timeout"
    (await checker.check()).assert_clean()


async def test_oversized_event_is_rejected(cluster: Cluster) -> None:
    controller = await cluster.add_controller()
    await haunt(cluster)
    job_id = await cluster.submit("test.ping", target=GHOST, job_timeout=3)
    checker = cluster.checker()
    checker.track(job_id, 3)
    js = (await cluster.bus()).jetstream()
    # Well-formed and from the right agent, but far beyond any agent's output cap.
    fat = msgspec.structs.replace(ghost_events(job_id)[2], result="x" * 900_000)
    await send(js, GHOST, encode(fat))
    detail = await cluster.final(job_id, within=15)
    assert detail["status"] == "failed", "an oversized event was accepted"
    assert controller.events("message_rejected")
    (await checker.check()).assert_clean()
