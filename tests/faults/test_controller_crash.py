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

from common import subjects
from controller.store.scripts import SHAS
from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op
from tests.faults.load import load_round

PUBLISH_JOB = b"PUB corral.job."
ACK_EVENTS = b"PUB $JS.ACK.CORRAL_EVENTS."
# The dispatched mark's script, by its SHA in the EVALSHA the controller sends.
MARK_DISPATCHED = SHAS["mark"].encode()
WINDOW = 2.0  # the streams' duplicate window (120 s in production)
RUNNING = 15.0  # each side effect's length: still running when the copies arrive


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


@pytest.mark.slow
async def test_jobs_republished_after_the_duplicate_window_run_once_per_agent(
    cluster: Cluster, counter: Path
) -> None:
    """The controller is SIGKILLed between the publish and the dispatched mark and
    stays down past the duplicate window: the reconciler stores second copies,
    which the claim (``_any``) and the agents' journals (host, ``_all``) keep
    from running again."""
    redis = await cluster.proxy(cluster.redis.port)
    controller = await cluster.add_controller(
        redis_url=f"redis://127.0.0.1:{redis.port}/0", duplicate_window=WINDOW
    )
    hosts = ["r-1.test", "r-2.test", "r-3.test"]
    for host in hosts:
        await cluster.add_agent(host)
    tokens: dict[str, str] = {}
    batch = []
    for target in ("_any", hosts[0], "_all"):
        op, data, tokens[target] = counter_op(counter, seconds=RUNNING)
        batch.append({"operation": {"type": op, "data": data}, "target": target, "timeout": 40})
    tripped = redis.trip_on(MARK_DISPATCHED)
    post = asyncio.create_task(cluster.api.post("/job/batch", json={"jobs": batch}))
    await asyncio.wait_for(tripped.wait(), 15)
    controller.kill()  # published, never marked dispatched
    with pytest.raises(httpx.HTTPError):
        await post
    await until(lambda: runs(counter, tokens) == [1, 1, 3], "every first copy running")
    [winner] = counter_runs(counter, tokens["_any"])
    # Its copy goes to another agent: without the claim that one would run it.
    cluster.agents[winner].pause()
    try:
        await asyncio.sleep(WINDOW + 1)  # the fault is time: the window must pass
        redis.heal()
        await controller.launch()
        await until(lambda: stored(cluster, 6), "the three jobs stored a second time")

        def handed_on() -> bool:
            return bool(cluster.refused("claimed")) or runs(counter, tokens)[0] > 1

        await until(handed_on, "the _any copy delivered to another agent")
    finally:
        cluster.agents[winner].resume()

    checker = cluster.checker()
    for item in (await cluster.api.get("/job")).json()["items"]:
        argv = (await cluster.detail(item["id"]))["operation"]["data"]["argv"]
        any_agent = argv[4] == tokens["_any"]
        checker.track(item["id"], 40, counter=counter, token=argv[4], any_agent=any_agent)
    assert len(checker.jobs) == 3
    await until(cluster.jobs_settled, "every copy handled", within=60)
    (await checker.check()).assert_clean()
    for job in checker.jobs:
        assert (await cluster.detail(job.job_id))["status"] == "completed"
    assert runs(counter, tokens) == [1, 1, 3]
    # The journals refused the second copies of the host job and of the broadcast.
    assert cluster.refused("replayed") == {"r-1.test": 2, "r-2.test": 1, "r-3.test": 1}


def runs(counter: Path, tokens: dict[str, str]) -> list[int]:
    """Runs in all of the ``_any``, the host and the ``_all`` job."""
    return [sum(counter_runs(counter, tokens[t]).values()) for t in ("_any", "r-1.test", "_all")]


async def stored(cluster: Cluster, messages: int) -> bool:
    info = await (await cluster.bus()).jetstream().stream_info(subjects.JOBS_STREAM)
    return bool(info.state.messages == messages)
