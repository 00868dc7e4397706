"""Three controllers on a three-node NATS cluster, two of them SIGKILLed in turn mid-fold
under load (promises 1 and 3: no leader among them, no lost or double-counted work).

As in tests/faults/test_controller_crash.py (two controllers), each doomed
controller reaches NATS through a proxy that stops it right before it acks a
batch of events it has written to Redis (``PUB $JS.ACK.CORRAL_EVENTS.``);
it is killed there, and JetStream hands the unacked batch to a survivor. The
collector's ack wait is shortened (30 s in production) so the redelivery
comes within the test.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.nats_cluster import NODES
from devstack.until import until
from tests.faults.load import load_round
from tests.faults.test_controller_crash import ACK_EVENTS
from tests.faults.test_nats_cluster import (
    HOSTS,
    JOB_TIMEOUT,
    ClusteredCorral,
    clustered_corral,
    settled_and_clean,
)


@pytest.fixture
async def clustered(tmp_path: Path) -> AsyncIterator[ClusteredCorral]:
    async with clustered_corral(tmp_path, HOSTS) as running:
        yield running


@pytest.mark.slow
async def test_two_of_three_controllers_killed_in_turn_under_load_lose_nothing(
    clustered: ClusteredCorral, counter: Path
) -> None:
    corral = clustered.corral
    proxies = [await corral.proxy(clustered.nats.ports[node].client) for node in NODES[:2]]
    # The survivor first: it creates the R3 streams, which takes a fresh cluster a while.
    await clustered.controller("c3", NODES[2])
    async with asyncio.TaskGroup() as starting:
        for i, proxy in enumerate(proxies):
            url = clustered.controller_url(NODES[i]).replace(
                f":{clustered.nats.ports[NODES[i]].client}", f":{proxy.port}"
            )
            starting.create_task(
                corral.add_controller(f"c{i + 1}", nats_url=url, stream_replicas=3)
            )
    survivor = corral.controllers["c3"]
    corral.use_api(survivor)
    await clustered.short_ack_waits()  # the last two starts set them back to 30 s
    await clustered.agents(HOSTS, list(NODES))

    checker = corral.checker()
    refused: Counter[int] = Counter()
    rng = random.Random(11)
    for name, proxy in zip(("c1", "c2"), proxies, strict=True):
        tripped = proxy.trip_on(ACK_EVENTS)
        while not tripped.is_set():
            await load_round(
                corral, checker, counter, HOSTS, job_timeout=JOB_TIMEOUT, refused=refused, rng=rng
            )
            assert len(checker.jobs) < 150, f"{name} never acked a batch"
        corral.controllers[name].kill()  # its last batch is written, not acked
    await load_round(
        corral, checker, counter, HOSTS, job_timeout=JOB_TIMEOUT, refused=refused, rng=rng
    )

    assert not refused, refused
    await until(corral.events_settled, "every event folded and acked", within=15)
    await settled_and_clean(clustered, checker)
    assert survivor.starts == 1
