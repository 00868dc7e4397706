"""In-progress acks of a long job: a timer per job, a task only once one is due."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from nats.aio.msg import Msg

from agent.runtime import InProgress


class FakeMsg:
    """Counts in-progress acks; ``reached`` is set at the ``wanted``-th."""

    def __init__(self, wanted: int) -> None:
        self.calls = 0
        self.wanted = wanted
        self.reached = asyncio.Event()

    async def in_progress(self) -> None:
        self.calls += 1
        if self.calls >= self.wanted:
            self.reached.set()


def tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks()


async def test_a_job_that_ends_before_the_first_reset_sends_none_and_starts_no_task() -> None:
    msg = FakeMsg(1)
    before = tasks()
    keepalive = InProgress(cast(Msg, msg), every=60.0)
    assert tasks() == before
    keepalive.stop()
    assert msg.calls == 0


async def test_a_long_job_gets_resets_until_it_ends() -> None:
    msg = FakeMsg(3)
    keepalive = InProgress(cast(Msg, msg), every=0.01)
    await asyncio.wait_for(msg.reached.wait(), timeout=30)
    keepalive.stop()
    sent = msg.calls
    task = keepalive._task
    assert task is not None
    await asyncio.wait({task}, timeout=30)
    assert task.cancelled()
    assert msg.calls == sent  # none after the job ended
