"""Answers given on time count, even when the controller folds them after the deadline (M5).

Two agents answer a broadcast while the controller is dead; it comes back
after the job's deadline, with their ``completed`` events still queued in
CORRAL_EVENTS. The sweeper must wait for the collector to fold them rather
than time the agents out: the job ends ``completed``, nobody ``late``.
"""

from __future__ import annotations

import time

from common import subjects
from common.messages import EVENT_MESSAGE_DECODER, Completed
from devstack.until import until
from tests.faults.cluster import Cluster

TIMEOUT = 6.0
GRACE = 1.0  # the sweeper's, for answers in flight


async def test_answers_queued_during_a_controller_outage_count_after_the_deadline(
    cluster: Cluster,
) -> None:
    controller = await cluster.add_controller()
    hosts = ["q-1.test", "q-2.test"]
    for host in hosts:
        await cluster.add_agent(host, {"group": "queued"})
    # Frozen while the job is submitted, so nothing is folded before the outage.
    for host in hosts:
        cluster.agents[host].pause()
    earliest = time.time() + TIMEOUT
    job_id = await cluster.submit("test.ping", target="group:queued", job_timeout=TIMEOUT)
    latest = time.time() + TIMEOUT  # the job's deadline is between the two
    controller.kill()
    for host in hosts:
        cluster.agents[host].resume()

    js = (await cluster.bus()).jetstream()
    answers: dict[str, Completed] = {}

    async def answered() -> bool:
        for host in hosts:
            try:
                msg = await js.get_last_msg(subjects.EVENTS_STREAM, subjects.events_of(host))
            except Exception:  # noqa: BLE001 - nothing stored for it yet
                return False
            stored = EVENT_MESSAGE_DECODER.decode(msg.data or b"")
            # A quick job's events arrive in one message, the terminal one last.
            event = stored[-1] if isinstance(stored, list) else stored
            if not isinstance(event, Completed):
                return False
            answers[host] = event
        return True

    await until(answered, "both agents' completed events stored", within=TIMEOUT)
    assert all(a.timestamp < earliest for a in answers.values()), "answered too late"

    async def overdue() -> bool:
        return time.time() > latest + GRACE

    await until(overdue, "the job's deadline (and grace) to pass", within=TIMEOUT + GRACE + 5)
    await controller.launch()

    detail = await cluster.final(job_id, within=30)
    assert detail["status"] == "completed", detail
    for host in hosts:
        state = detail["agent_states"][host]
        assert state["status"] == "completed", state
        assert not state["late"], state
    assert "timeout" not in [e["event"] for e in detail["timeline"]]
