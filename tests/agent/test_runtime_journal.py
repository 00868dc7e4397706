"""The agent's journal against real servers: redeliveries, restarts, replays (promise 2).

Agents here run with a 2 s ack wait on their own consumer, so a message left
unacked by a "crashed" agent comes back within seconds. A crash is the
agent's task cancelled and its connection closed without a goodbye; its
journal file stays, and the restarted agent (same hostname, same journal)
gets the redelivery.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS

from common import subjects
from common.messages import HEARTBEAT_DECODER, Heartbeat
from devstack.until import until
from tests.faults.proxy import TcpProxy
from tests.harness import Stack

COUNTER = ("test.counter", "command.exec", "test.sleep")
FAST_REDELIVERY: dict[str, Any] = {"ack_wait": 2.0}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_a_finished_side_effect_redelivered_after_a_crash_is_not_run_again(
    stack: Stack, tmp_path: Path
) -> None:
    host = "journal-1.test"
    counter = tmp_path / "counter"
    proxy = await TcpProxy(urlsplit(stack.nats_url).port or 0).start()
    try:
        await stack.start_agent(host, allow=COUNTER, nats_url=proxy.url, **FAST_REDELIVERY)
        # Swallow the job message's ack (an empty PUB to its reply subject):
        # the operation ran and its terminal event is stored, the ack is lost.
        acked = proxy.trip_on(b"$JS.ACK.CORRAL_JOBS.", b" 0\r\n")
        job_id = await stack.submit("test.counter", {"path": str(counter)}, target=host)
        await until(lambda: _is_set(acked), "the ack to be swallowed")
        first = stack.agents[host]
        first.task.cancel()
        proxy.heal()
        await first.crash()
    finally:
        await proxy.close()
    restarted = await stack.start_agent(host, allow=COUNTER, **FAST_REDELIVERY)

    async def redelivered() -> bool:
        return restarted.runtime.completed == 1

    await until(redelivered, "the redelivery handled")
    detail = await stack.final(job_id)
    assert detail["status"] == "completed"
    assert detail["result"] == {"count": 1}
    assert lines(counter) == [job_id]


async def test_an_agent_restarted_during_a_side_effect_reports_outcome_unknown(
    stack: Stack, tmp_path: Path
) -> None:
    host = "journal-2.test"
    marker = tmp_path / "ran"
    await stack.start_agent(host, allow=COUNTER, **FAST_REDELIVERY)
    script = f'echo ran >> "{marker}"; sleep 60'
    job_id = await stack.submit(
        "command.exec", {"argv": ["sh", "-c", script]}, target=host, job_timeout=120
    )
    await until(lambda: _exists(marker), "the side effect to start")
    await stack.agents[host].crash()
    await stack.start_agent(host, allow=COUNTER, **FAST_REDELIVERY)
    detail = await stack.final(job_id)
    assert detail["status"] == "failed"
    assert detail["agent_states"][host]["status"] == "failed"
    assert detail["error"] == "agent restarted during execution; outcome unknown"
    assert lines(marker) == ["ran"]


async def test_a_read_only_job_interrupted_by_a_restart_runs_again_as_a_retry(
    stack: Stack,
) -> None:
    host = "journal-3.test"
    await stack.start_agent(host, allow=COUNTER, **FAST_REDELIVERY)
    job_id = await stack.submit("test.sleep", {"seconds": 30}, target=host, job_timeout=120)
    await until(lambda: _agent_status(stack, job_id, host, "started"), "started")
    await stack.agents[host].crash()
    agent = await stack.start_agent(host, allow=COUNTER, **FAST_REDELIVERY)
    await until(lambda: _has_event(stack, job_id, "retried"), "the retry")
    await until(lambda: _agent_status(stack, job_id, host, "started"), "started again")
    assert (await stack.detail(job_id))["agent_states"][host]["attempt"] == 2
    await stack.agents[host].crash()
    assert agent.runtime.completed == 0


async def test_a_job_delivered_too_often_ends_failed_with_the_count(stack: Stack) -> None:
    host = "journal-4.test"
    settings: dict[str, Any] = {**FAST_REDELIVERY, "max_deliveries": 1}
    await stack.start_agent(host, allow=COUNTER, **settings)
    job_id = await stack.submit("test.sleep", {"seconds": 30}, target=host, job_timeout=120)
    await until(lambda: _agent_status(stack, job_id, host, "started"), "started")
    await stack.agents[host].crash()
    agent = await stack.start_agent(host, allow=COUNTER, **settings)
    detail = await stack.final(job_id)
    assert detail["status"] == "failed"
    assert detail["error"] == "gave up after 1 delivery attempts"
    assert agent.runtime.refused["max_deliveries"] == 1


async def test_a_finished_job_republished_as_a_new_message_is_never_run_again(
    stack: Stack, tmp_path: Path
) -> None:
    host = "journal-5.test"
    counter = tmp_path / "counter"
    agent = await stack.start_agent(host, allow=COUNTER)
    job_id = await stack.submit("test.counter", {"path": str(counter)}, target=host)
    assert (await stack.final(job_id))["status"] == "completed"
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        original = await js.get_last_msg(subjects.JOBS_STREAM, subjects.job_for_host(host))
        # As if replayed after the duplicate window: same signed bytes, new sequence.
        await js.publish(subjects.job_for_host(host), original.data or b"")
        await until(lambda: _refused(agent.runtime.refused, "replayed"), "the refusal")
        beat = await _next_heartbeat(nc, host)
        assert beat.refusals.get("replayed") == 1
    finally:
        await nc.close()
    assert lines(counter) == [job_id]
    assert (await stack.detail(job_id))["status"] == "completed"


async def _next_heartbeat(nc: NATS, host: str) -> Heartbeat:
    sub = await nc.subscribe(subjects.heartbeat_of(host))
    try:
        return HEARTBEAT_DECODER.decode((await sub.next_msg(timeout=10)).data)
    finally:
        await sub.unsubscribe()


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _exists(path: Path) -> bool:
    return bool(await asyncio.to_thread(lines, path))


async def _refused(counter: Counter[str], reason: str) -> bool:
    return counter[reason] > 0


async def _agent_status(stack: Stack, job_id: str, host: str, status: str) -> bool:
    states = (await stack.detail(job_id))["agent_states"]
    return host in states and states[host]["status"] == status


async def _has_event(stack: Stack, job_id: str, event: str) -> bool:
    return any(t["event"] == event for t in (await stack.detail(job_id))["timeline"])
