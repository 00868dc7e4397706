"""Agents at a remote site behind a NATS leaf node, the site's link cut and restored
(promises 1 and 6; docs/deployment.md, "Remote sites").

The leaf node runs the shipped deploy/nats/leaf/leaf.conf (only ports and
paths replaced), linked to the three-node cluster through one proxy per hub
node, so the test cuts the link without touching either server. Jobs sent
while the site is cut off reach its agents once the link is back, or end
``timeout`` at their deadline; none runs after its deadline, none twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.nats_cluster import NODES, leaf_links, start_leaf
from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import counter_op
from tests.faults.proxy import TcpProxy
from tests.faults.test_nats_cluster import (
    ACK_WAIT,
    ClusteredCorral,
    accounts,
    agent_password,
    clustered_corral,
)

SITE = ["site-1.test", "site-2.test"]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[ClusteredCorral, list[TcpProxy]]]:
    async with clustered_corral(tmp_path, SITE) as clustered:
        links = [await clustered.corral.proxy(clustered.nats.ports[n].leaf) for n in NODES]
        hubs = {name: link.port for name, link in zip(NODES, links, strict=True)}
        await asyncio.to_thread(start_leaf, clustered.nats, accounts(SITE), hubs)
        yield clustered, links


@pytest.mark.slow
async def test_jobs_sent_while_a_leaf_link_is_cut_arrive_after_it_heals_or_time_out(
    site: tuple[ClusteredCorral, list[TcpProxy]], counter: Path
) -> None:
    clustered, links = site
    corral, nats = clustered.corral, clustered.nats
    await clustered.controller("c1", NODES[0])
    assert nats.leaf is not None
    leaf_url = "nats://agent-{0}:{1}@127.0.0.1:" + str(nats.leaf.port)
    async with asyncio.TaskGroup() as starting:
        for host in SITE:
            url = leaf_url.format(host, agent_password(host))
            starting.create_task(corral.add_agent(host, nats_url=url, ack_wait=ACK_WAIT))
    checker = corral.checker()
    before = await corral.submit("test.ping", target="_all", job_timeout=20)
    checker.track(before, 20)
    assert (await corral.final(before))["status"] == "completed"

    for link in links:
        link.partition()
    await until(lambda: leaf_links(nats.leaf_monitor) == 0, "the site cut off")
    op, data, token = counter_op(counter)
    waits = await corral.submit(op, data, SITE[0], job_timeout=30)
    checker.track(waits, 30, counter=counter, token=token)
    op, data, late_token = counter_op(counter)
    expires = await corral.submit(op, data, SITE[1], job_timeout=2)
    checker.track(expires, 2, counter=counter, token=late_token)
    everyone = await corral.submit("test.ping", target="_all", job_timeout=30)
    checker.track(everyone, 30)
    # The link stays cut until the short job has timed out.
    timed_out = await corral.final(expires, within=15)
    for link in links:
        link.heal()

    assert (await corral.final(waits, within=25))["status"] == "completed"
    assert (await corral.final(everyone, within=25))["status"] == "completed"
    assert timed_out["status"] == "failed", timed_out
    assert timed_out["agent_states"][SITE[1]]["status"] == "timeout", timed_out
    (await checker.check()).assert_clean()
    assert sum(counter_runs(counter, token).values()) == 1
    assert not counter_runs(counter, late_token), "a job ran after its deadline"
    # It did reach its agent once the link was back, which refused it.
    await until(lambda: corral.refused("expired") == {SITE[1]: 1}, "the late job refused")
    assert all(proc.starts == 1 for proc in corral.agents.values())
