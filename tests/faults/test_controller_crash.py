"""Controllers SIGKILLed between write and publish, mid-fold, and under load (promises 1, 3).

A controller process is put behind a proxy so the test can stop it at an
exact step: right before the job publish (``HPUB corral.job.``: the record is
written, the message not sent), or right before it acks a batch of events
(``PUB $JS.ACK.CORRAL_EVENTS.``: written to Redis, not acked), then SIGKILL it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx
import pytest

from devstack.until import until
from tests.faults.cluster import Cluster
from tests.faults.load import load_round

PUBLISH_JOB = b"PUB corral.job."
ACK_EVENTS = b"PUB $JS.ACK.CORRAL_EVENTS."


async def test_controller_killed_between_write_and_publish_leaves_no_job_stuck(
    cluster: Cluster,
) -> None:
    proxy = await cluster.proxy(cluster.nats.port)
    controller = await cluster.add_controller(nats_url=proxy.url)
    await cluster.add_agent("w-1.test")
    tripped = proxy.trip_on(PUBLISH_JOB)
    body = {"operation": {"type": "test.ping", "data": {}}, "target": "w-1.test", "timeout": 5}
    post = asyncio.create_task(cluster.api.post("/job", json=body))
    await asyncio.wait_for(tripped.wait(), 15)
    controller.kill()
    with pytest.raises(httpx.HTTPError):
        await post  # the caller never got its 201: the job may or may not exist
    proxy.heal()
    await controller.launch()

    listing = (await cluster.api.get("/job")).json()
    assert listing["total_items"] == 1
    job_id = listing["items"][0]["id"]
    checker = cluster.checker()
    checker.track(job_id, 5)
    detail = await cluster.final(job_id, within=20)
    # Republished with the same message id and run, or failed as not dispatched.
    assert detail["status"] in {"completed", "failed"}
    if detail["status"] == "failed":
        assert "dispatch" in (detail["error"] or "")
    (await checker.check()).assert_clean()


@pytest.mark.slow
async def test_one_of_two_controllers_killed_mid_fold_under_load_loses_nothing(
    cluster: Cluster, counter: Path
) -> None:
    proxy = await cluster.proxy(cluster.nats.port)
    doomed = await cluster.add_controller("c1", nats_url=proxy.url)
    survivor = await cluster.add_controller("c2")
    cluster.use_api(survivor)
    hosts = ["l-1.test", "l-2.test", "l-3.test"]
    for host in hosts:
        await cluster.add_agent(host)
    checker = cluster.checker()
    refused: Counter[int] = Counter()
    rng = random.Random(7)
    tripped = proxy.trip_on(ACK_EVENTS)
    while not tripped.is_set():
        await load_round(cluster, checker, counter, hosts, job_timeout=45, refused=refused, rng=rng)
        assert len(checker.jobs) < 200, "c1 never acked a batch"
    doomed.kill()  # its last batch is written but not acked: JetStream redelivers it
    for _ in range(3):  # the survivor carries on alone
        await load_round(cluster, checker, counter, hosts, job_timeout=45, refused=refused, rng=rng)
    proxy.heal()
    await doomed.launch()  # and the restarted one shares the consumer again
    await load_round(cluster, checker, counter, hosts, job_timeout=45, refused=refused, rng=rng)

    assert not refused
    # The unacked batch comes back after the consumer's 30 s ack wait.
    await until(cluster.events_settled, "every event folded and acked", within=60)
    verdict = await checker.check()
    verdict.assert_clean()
    statuses = Counter([(await cluster.detail(j.job_id))["status"] for j in checker.jobs])
    assert set(statuses) == {"completed"}, statuses
