"""Cancel, the agent's side: signed requests stop the running operation's process group.

The controller's endpoint sends the signed request; the tests also publish
requests directly (forged ones, and one for a job the agent has not been
given yet) to check what the agent does with them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats

from agent.daemon import Agent
from common import subjects
from common.messages import ENCODER, CancelRequest, SignedJob
from common.signing import Signer, load_private
from devstack.until import until
from tests.harness import Stack

ALLOW = ("command.exec", "test.sleep", "test.counter")


def signer(stack: Stack) -> Signer:
    return Signer(load_private(str(stack.public_key.with_suffix(".key"))))


async def publish_cancel(stack: Stack, envelope: SignedJob) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        await nc.publish(subjects.CANCEL, ENCODER.encode(envelope))
        await nc.flush()
    finally:
        await nc.close()


def request(job_id: str) -> bytes:
    return ENCODER.encode(CancelRequest(job_id=job_id, requested_at=time.time()))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper (which may not be us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def test_cancel_kills_the_whole_process_group_and_the_agent_reports_cancelled(
    stack: Stack, tmp_path: Path
) -> None:
    host = "cancel-1.test"
    agent = await stack.start_agent(host, allow=ALLOW)
    pids = tmp_path / "pids"
    script = f'echo $$ > "{pids}"; sleep 60 & echo $! >> "{pids}"; wait'
    job_id = await stack.submit(
        "command.exec", {"argv": ["sh", "-c", script]}, target=host, job_timeout=120
    )

    async def both_running() -> bool:
        found = await asyncio.to_thread(lambda: pids.read_text() if pids.exists() else "")
        return len(found.split()) == 2

    await until(both_running, "the command and its child")
    group = [int(p) for p in pids.read_text().split()]

    # Unsigned and tampered requests are refused and counted; the job keeps running.
    await publish_cancel(stack, SignedJob(payload=request(job_id)))
    tampered = signer(stack).sign(request(job_id))
    await publish_cancel(
        stack,
        SignedJob(
            payload=request("x" + job_id), signature=tampered.signature, key_id=tampered.key_id
        ),
    )
    await until(lambda: _refusals(agent, "bad_signature", 2), "two refusals")
    assert all(alive(pid) for pid in group)

    response = await stack.api.post(f"/job/{job_id}/cancel")
    assert response.status_code == 202, response.text
    await until(lambda: _completed(agent, 1), "the agent's cancelled event stored, job acked")
    await until(lambda: _none_alive(group), "the process group killed")
    detail = await stack.final(job_id)
    assert detail["status"] == "cancelled"
    assert detail["agent_states"][host]["status"] == "cancelled"


async def test_a_job_cancelled_before_it_is_delivered_is_not_run(
    stack: Stack, tmp_path: Path
) -> None:
    host = "cancel-2.test"
    counter = tmp_path / "counter"
    agent = await stack.start_agent(host, allow=ALLOW, max_concurrency=1)
    busy = await stack.submit("test.sleep", {"seconds": 60}, target=host, job_timeout=120)
    await until(lambda: _agent_status(stack, busy, host, "started"), "the slot taken")
    # Waits in the stream: the agent fetches only as many jobs as it has free slots.
    queued = await stack.submit("test.counter", {"path": str(counter)}, target=host)
    # Told directly (not through the controller, which would also delete the message).
    await publish_cancel(stack, signer(stack).sign(request(queued)))
    await until(lambda: _remembers(agent, queued), "the cancel remembered")
    assert (await stack.api.post(f"/job/{busy}/cancel")).status_code == 202
    await until(lambda: _agent_status(stack, queued, host, "cancelled"), "queued cancelled")
    await until(lambda: _completed(agent, 2), "both jobs acked")
    assert not counter.exists()
    entry = await agent.runtime.journal.get(queued)
    assert entry is not None
    assert entry.state == "terminal"


async def _refusals(agent: Agent, reason: str, count: int) -> bool:
    return agent.runtime.refused[reason] == count


async def _completed(agent: Agent, count: int) -> bool:
    return agent.runtime.completed == count


async def _remembers(agent: Agent, job_id: str) -> bool:
    return job_id in agent.runtime.cancelled


async def _none_alive(pids: list[int]) -> bool:
    return not any(alive(pid) for pid in pids)


async def _agent_status(stack: Stack, job_id: str, host: str, status: str) -> bool:
    states = (await stack.detail(job_id))["agent_states"]
    return host in states and states[host]["status"] == status
