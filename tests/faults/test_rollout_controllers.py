"""Rolling rollouts driven by two controller processes: one SIGKILLed between batches,
and both racing on every batch (issue 14: a rollout survives a controller's death
and two controllers never send the same batch twice).

Each controller reaches Redis through its own proxy, armed to stop it the moment
it sends the claim of batch 3 (``EVALSHA <rollout_claim> ... batch 3``): the one
that goes to start that batch first is held there, its claim never reaching
Redis, and SIGKILLed. That is "between batches", decided by the protocol rather
than a clock: batch 2 has finished and its pause has passed, nothing of batch 3
exists yet.

What a double send would leave behind, and what the tests read: a second run in
the counter file (the host-side witness), a second copy refused by an agent's
journal (``replayed``), a second message on a host's subject in the jobs stream,
a second ``rollout_batch_started`` line in the controllers' logs, or a batch's
claim naming a controller that never got it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common import subjects
from controller.store.keys import rollout_key
from controller.store.redis import as_text
from controller.store.scripts import SHAS
from tests.faults.checker import counter_runs
from tests.faults.cluster import Cluster, counter_op, running_cluster
from tests.faults.procs import CorralProcess
from tests.faults.proxy import TcpProxy

JOB_TIMEOUT = 60.0  # the whole rollout's deadline: far beyond what it needs
BATCH_SIZE = 2
CLAIM = SHAS["rollout_claim"].encode()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """The suite's cluster, its agents drained all at once at the end (one after
    another, as :meth:`Cluster.close` does, 20 of them take seconds)."""
    async with running_cluster(tmp_path) as running:
        try:
            yield running
        finally:
            agents = running.agents.values()
            await asyncio.gather(*(asyncio.to_thread(agent.stop) for agent in agents))


def chunks(hosts: list[str]) -> list[list[str]]:
    """The batches as the rollout forms them: the sorted hostnames, BATCH_SIZE at a time."""
    ordered = sorted(hosts)
    return [ordered[i : i + BATCH_SIZE] for i in range(0, len(ordered), BATCH_SIZE)]


async def start(cluster: Cluster, hosts: list[str], *, proxied: str = "") -> dict[str, TcpProxy]:
    """Controllers c1 and c2, each through its own proxy to ``proxied`` ("redis" or
    "nats") if named, then the agents, at once. The API is c1's."""
    proxies: dict[str, TcpProxy] = {}
    for name in ("c1", "c2"):
        settings: dict[str, Any] = {}
        if proxied:
            server = cluster.redis if proxied == "redis" else cluster.nats
            proxies[name] = await cluster.proxy(server.port)
            settings[f"{proxied}_url"] = f"{proxied}://127.0.0.1:{proxies[name].port}"
        await cluster.add_controller(name, **settings)
    async with asyncio.TaskGroup() as starting:
        for host in hosts:
            starting.create_task(cluster.add_agent(host))
    return proxies


async def submit_rollout(
    cluster: Cluster, counter: Path, pause: float, hosts: list[str]
) -> tuple[str, str]:
    """A side-effect job rolled out over every agent; its id and counter token."""
    operation, data, token = counter_op(counter)
    body = {
        "operation": {"type": operation, "data": data},
        "target": "_all",
        "timeout": JOB_TIMEOUT,
        "rollout": {"batch_size": BATCH_SIZE, "pause": pause},
    }
    response = await cluster.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    job_id = str(response.json()["job_id"])
    assert sorted((await cluster.detail(job_id))["agent_states"]) == sorted(hosts)
    return job_id, token


async def claims(cluster: Cluster, job_id: str) -> dict[str, str]:
    stored = await cluster.store.hgetall(rollout_key(job_id))
    return {as_text(k): as_text(v) for k, v in stored.items()}


def logged(procs: list[CorralProcess], event: str, job_id: str) -> list[dict[str, Any]]:
    """``event`` lines about ``job_id`` in these processes' logs (a killed one's too)."""
    return [line for proc in procs for line in proc.events(event) if line.get("job_id") == job_id]


async def copies_stored(cluster: Cluster, hosts: list[str]) -> dict[str, int]:
    """How many copies of a job each host's subject holds in the jobs stream."""
    js = (await cluster.bus()).jetstream()
    info = await js.stream_info(subjects.JOBS_STREAM, subjects_filter="corral.job.>")
    found = info.state.subjects or {}
    return {host: found.get(subjects.job_for_host(host), 0) for host in hosts}


async def kill_the_first_to_send(
    cluster: Cluster, proxies: dict[str, TcpProxy], *patterns: bytes
) -> tuple[str, str]:
    """Arm every controller's proxy on ``patterns``; SIGKILL the first one held there.

    The survivor's proxy is disarmed (``trip_on()`` without patterns never trips);
    had it been held on the same step meanwhile, its links are reset and its
    client sends again. The API becomes the survivor's. Returns both names.
    """
    tripped = {name: proxy.trip_on(*patterns) for name, proxy in proxies.items()}
    waiting = {asyncio.ensure_future(event.wait()): name for name, event in tripped.items()}
    done, pending = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    assert done, f"no controller sent {patterns}"
    doomed = waiting[done.pop()]
    [survivor] = [name for name in proxies if name != doomed]
    cluster.controllers[doomed].kill()
    if tripped[survivor].is_set():
        proxies[survivor].heal()
    else:
        proxies[survivor].trip_on()
    await cluster.api.aclose()  # its connection may be to the dead one
    cluster.use_api(cluster.controllers[survivor])
    return doomed, survivor


async def assert_sent_once_per_batch(
    cluster: Cluster,
    job_id: str,
    token: str,
    counter: Path,
    hosts: list[str],
    *,
    resent: int = 0,
) -> dict[str, str]:
    """Every check of "each batch sent exactly once, the job completed"; the claims.

    ``resent``: the batch a survivor sent again because its claimer died before
    the broker stored it (its start is logged by both, recorded once).
    """
    checker = cluster.checker()
    checker.track(job_id, JOB_TIMEOUT, counter=counter, token=token)
    (await checker.check()).assert_clean()
    detail = await cluster.detail(job_id)
    groups = chunks(hosts)
    assert detail["status"] == "completed"
    assert detail["operation"]["rollout"]["progress"] == {
        "batch": len(groups),
        "of": len(groups),
        "state": "done",
    }
    starts = [e["message"] for e in detail["timeline"] if e["event"] == "batch_started"]
    assert starts == [
        f"batch {n} of {len(groups)} started: {', '.join(group)}"
        for n, group in enumerate(groups, 1)
    ]
    assert counter_runs(counter, token) == Counter(dict.fromkeys(hosts, 1))
    assert {s["attempt"] for s in detail["agent_states"].values()} == {1}
    assert not cluster.refused("replayed")
    assert await copies_stored(cluster, hosts) == dict.fromkeys(hosts, 1)

    # A second send of a batch within the broker's duplicate window is dropped
    # there, unseen by the agents: the controllers' own lines show it.
    controllers = list(cluster.controllers.values())
    started = Counter(
        line["batch"] for line in logged(controllers, "rollout_batch_started", job_id)
    )
    assert started == Counter(range(1, len(groups) + 1)) + Counter([resent] if resent else [])
    assert len(logged(controllers, "rollout_resent", job_id)) == (1 if resent else 0)
    stored = await claims(cluster, job_id)
    for n, group in enumerate(groups, 1):
        for host in group:
            assert stored[f"host:{host}"].split("|")[0] == str(n), (host, stored)
            assert f"seq:{host}" in stored, (host, stored)  # its copy's ack noted
    return stored


def claim_of(job_id: str, n: int) -> tuple[bytes, ...]:
    """The claim of batch ``n`` as it crosses the wire (RESP: ``$5 batch $1 3``)."""
    return CLAIM, rollout_key(job_id).encode(), f"$5\r\nbatch\r\n${len(str(n))}\r\n{n}\r\n".encode()


@pytest.mark.slow
async def test_a_rollout_resumes_on_the_other_controller_when_its_driver_is_killed_between_batches(
    cluster: Cluster, counter: Path
) -> None:
    """10 agents, batches of 2, a pause of 0.5 s: the controller that goes to start
    batch 3 is SIGKILLed as it sends the claim; the other one starts batches 3 to 5."""
    hosts = [f"rk-{i:02d}.test" for i in range(10)]
    proxies = await start(cluster, hosts, proxied="redis")
    job_id, token = await submit_rollout(cluster, counter, 0.5, hosts)
    doomed, survivor = await kill_the_first_to_send(cluster, proxies, *claim_of(job_id, 3))

    stored = await assert_sent_once_per_batch(cluster, job_id, token, counter, hosts)
    # Batches 1 and 2 went to whichever controller claimed first (the submit's
    # one or the other's sweep); the doomed claim never reached Redis.
    assert {stored["batch:1"], stored["batch:2"]} <= {"c1", "c2"}
    assert [stored[f"batch:{n}"] for n in (3, 4, 5)] == [survivor] * 3
    assert not cluster.controllers[doomed].running
    assert cluster.controllers[survivor].starts == 1


@pytest.mark.slow
async def test_a_batch_claimed_by_a_controller_killed_before_it_published_is_sent_by_the_other(
    cluster: Cluster, counter: Path
) -> None:
    """6 agents, batches of 2: the controller that claimed batch 2 is SIGKILLed as it
    publishes the first copy (its claim and batch start stored, nothing sent). The
    survivor sends both copies once RESEND_AFTER (5 s) passed without their acks."""
    hosts = [f"rp-{i:02d}.test" for i in range(6)]
    proxies = await start(cluster, hosts, proxied="nats")
    job_id, token = await submit_rollout(cluster, counter, 0.5, hosts)
    first = chunks(hosts)[1][0]
    publish = f"PUB {subjects.job_for_host(first)} ".encode()
    doomed, survivor = await kill_the_first_to_send(cluster, proxies, publish)

    stored = await assert_sent_once_per_batch(cluster, job_id, token, counter, hosts, resent=2)
    assert stored["batch:2"] == doomed
    assert stored["batch:3"] == survivor


@pytest.mark.slow
async def test_two_live_controllers_racing_on_every_batch_send_each_batch_once(
    cluster: Cluster, counter: Path
) -> None:
    """20 agents, batches of 2 and no pause: an answer's change reaches both
    controllers at once, and both go for the next batch every time (which one
    wins each is not fixed; a broken claim shows as a batch started twice)."""
    hosts = [f"rr-{i:02d}.test" for i in range(20)]
    await start(cluster, hosts)
    job_id, token = await submit_rollout(cluster, counter, 0.0, hosts)

    stored = await assert_sent_once_per_batch(cluster, job_id, token, counter, hosts)
    claimers = {n: stored[f"batch:{n}"] for n in range(1, 11)}
    assert set(claimers.values()) <= {"c1", "c2"}, claimers
    assert stored["batch"] == "10"
    assert sorted(k for k in stored if k.startswith("batch:")) == sorted(
        f"batch:{n}" for n in range(1, 11)
    )
