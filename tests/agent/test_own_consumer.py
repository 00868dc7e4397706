"""An agent's own consumer against a real JetStream (agent/own_consumer.py): created
at the stream's end, found again by a restarted agent with its floor pinned
below what an earlier process left unacked, and created again at the floor
once the broker has forgotten it."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from agent.journal import Journal
from agent.own_consumer import OwnConsumer, own_consumer_config
from common import subjects

HOST = "floor.example"


def own(js: JetStreamContext, journal: Journal) -> OwnConsumer:
    # A short ack wait: the message a "dead process" left unacked comes back soon.
    return OwnConsumer(js, journal, own_consumer_config(HOST, {}, slots=4, ack_wait=1.0))


async def publish(js: JetStreamContext, count: int) -> list[int]:
    acks = [await js.publish(subjects.job_for_host(HOST), b"job") for _ in range(count)]
    return [ack.seq for ack in acks]


async def fetch(js: JetStreamContext, count: int) -> list[Msg]:
    sub = await js.pull_subscribe_bind(subjects.agent_consumer(HOST), stream=subjects.JOBS_STREAM)
    msgs = await sub.fetch(count, timeout=5)
    await sub.unsubscribe()
    return msgs


async def test_floor_survives_an_agent_restart_and_a_forgotten_consumer(
    js: JetStreamContext,
) -> None:
    journal = Journal()  # one journal across "processes", as on a host
    first = own(js, journal)
    await publish(js, 2)  # before the agent existed: never delivered to it
    await first.bind()
    seqs = await publish(js, 3)
    assert first.floor.value() == seqs[0]
    msgs = await fetch(js, 3)
    assert [m.metadata.sequence.stream for m in msgs] == seqs
    for msg in msgs:
        first.floor.received(msg.metadata.sequence.stream)
    for msg in (msgs[0], msgs[2]):  # the middle one is still running when it dies
        await msg.ack_sync()
        first.floor.settled(msg.metadata.sequence.stream)
    assert first.floor.value() == seqs[1]
    first.save()

    # A new agent process: the consumer is still there, seqs[1] unacked.
    second = own(js, journal)
    await second.bind()
    assert second.floor.pinned
    assert second.floor.value() == seqs[1]
    [again] = await fetch(js, 1)  # redelivered once its ack wait passed
    assert again.metadata.sequence.stream == seqs[1]
    await again.ack_sync()
    await second.refresh()
    assert not second.floor.pinned
    assert second.floor.value() == seqs[2] + 1
    second.save()

    # The broker forgot it (memory state): created again at the floor.
    later = await publish(js, 1)
    await js.delete_consumer(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    third = own(js, journal)
    await third.bind()
    info = await js.consumer_info(subjects.JOBS_STREAM, subjects.agent_consumer(HOST))
    assert info.config.opt_start_seq == seqs[2] + 1
    assert info.config.mem_storage
    [msg] = await fetch(js, 1)
    assert msg.metadata.sequence.stream == later[0]
