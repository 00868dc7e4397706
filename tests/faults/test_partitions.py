"""Network faults between agents and NATS, through the proxy (promises 1, 2, 6).

Latency only slows jobs down; a partition in the middle of a side effect
delays its report until the link heals and never repeats it; a half-open
link (the agent's socket looks alive, nothing gets through) costs the job
its deadline, with a reason, and the agent recovers once the link resets.
"""

from __future__ import annotations

from pathlib import Path

from devstack.until import until
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op


async def test_latency_partition_and_half_open_links_lose_and_repeat_nothing(
    cluster: Cluster, counter: Path
) -> None:
    await cluster.add_controller()
    links = {name: await cluster.proxy(cluster.nats.port) for name in ("slow", "cut", "mute")}
    agents = {
        name: await cluster.add_agent(f"{name}.test", nats_url=link.url, ack_wait=5.0)
        for name, link in links.items()
    }
    checker = cluster.checker()

    links["slow"].latency = 0.05  # every chunk, both ways
    slow = await cluster.submit("test.echo", {"data": 1}, "slow.test", job_timeout=20)
    checker.track(slow, 20)

    op, data, token = counter_op(counter, seconds=0.5)
    cut = await cluster.submit(op, data, "cut.test", job_timeout=30)
    checker.track(cut, 30, counter=counter, token=token)

    async def effect_ran() -> bool:
        return bool(counter_runs(counter, token))

    await until(effect_ran, "the side effect started")
    links["cut"].partition()  # the operation finishes while the agent is cut off

    async def finished_offline() -> bool:
        return bool(agents["cut"].events("job_completed"))

    await until(finished_offline, "the operation finished behind the partition")
    links["mute"].blackhole()
    mute = await cluster.submit("test.ping", target="mute.test", job_timeout=2)
    checker.track(mute, 2)
    links["cut"].heal()  # the agent reconnects and reports what it did

    assert (await cluster.final(slow))["status"] == "completed"
    assert (await cluster.final(cut))["status"] == "completed"
    muted = await cluster.final(mute, within=15)
    assert muted["status"] == "failed"
    assert muted["agent_states"]["mute.test"]["status"] in {"timeout", "failed"}
    links["mute"].heal()  # reset: the agent reconnects and works again
    again = await cluster.submit("test.ping", target="mute.test", job_timeout=20)
    checker.track(again, 20)
    assert (await cluster.final(again, within=25))["status"] == "completed"
    (await checker.check()).assert_clean()
