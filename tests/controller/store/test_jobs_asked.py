"""A record only takes what was asked: APPLY_EVENTS rejects other agents' events.

Against a real redis-server: an agent a job does not expect is never stored;
an ``_any`` job belongs to the first agent heard from, and once final takes
no other agent's events (an expired replay answered elsewhere, say).
"""

from __future__ import annotations

import pytest

from common.job import CONTROLLER
from common.messages import ENCODER, Event
from controller.store.jobs import JobStore
from controller.store.keys import events_key
from controller.store.redis import as_text
from controller.store.scripts import Applied
from tests.controller.store.test_scripts_apply_final import create, make, new_meta

pytestmark = pytest.mark.both_redis  # the store must act alike on both


async def apply(store: JobStore, job_id: str, *events: Event) -> Applied:
    return (await store.apply({job_id: [(e, ENCODER.encode(e)) for e in events]}))[job_id]


async def stored_hosts(store: JobStore, job_id: str) -> set[str]:
    ids = await store.redis.hkeys(events_key(job_id))
    return {as_text(i).split(":")[1] for i in ids}


async def test_an_agent_the_job_does_not_expect_is_rejected_not_stored(store: JobStore) -> None:
    meta = new_meta("host")  # expects a.example
    await create(store, meta)
    stranger = [make(meta.id, "z.example", k, 1, 1.0) for k in ("acknowledged", "completed")]
    outcome = await apply(store, meta.id, *stranger)
    assert (outcome.rejected, outcome.new_events, outcome.status) == (2, 0, "submitted")
    assert await stored_hosts(store, meta.id) == {CONTROLLER}
    answer = await apply(store, meta.id, make(meta.id, "a.example", "completed", 1, 2.0))
    assert (answer.rejected, answer.finished, answer.status) == (0, True, "completed")


async def test_a_final_any_job_takes_only_the_agent_that_ran_it(store: JobStore) -> None:
    meta = new_meta("any")
    await create(store, meta)
    ran = await apply(store, meta.id, make(meta.id, "a.example", "completed", 1, 1.0))
    assert (ran.finished, ran.status) == (True, "completed")
    # Another agent answering a replay of the finished job: not the job's.
    replay = await apply(store, meta.id, make(meta.id, "b.example", "failed", 1, 2.0))
    assert (replay.rejected, replay.new_events) == (1, 0)
    # The agent that ran it may still report (a later attempt): taken, status kept.
    late = await apply(store, meta.id, make(meta.id, "a.example", "completed", 2, 3.0))
    assert (late.rejected, late.new_events, late.status) == (0, 1, "completed")
    detail = await store.detail(meta.id)
    assert detail is not None
    assert set(detail.agent_states) == {"a.example"}


async def test_an_unfinished_any_job_shows_a_second_agent(store: JobStore) -> None:
    """Before the job is final a second runner is shown, not hidden: it would be a double run."""
    meta = new_meta("any")
    await create(store, meta)
    first = await apply(store, meta.id, make(meta.id, "a.example", "acknowledged", 1, 1.0))
    second = await apply(store, meta.id, make(meta.id, "b.example", "acknowledged", 1, 1.5))
    assert (first.rejected, second.rejected, second.new_events) == (0, 0, 1)
    assert await stored_hosts(store, meta.id) == {CONTROLLER, "a.example", "b.example"}


async def test_an_any_job_timed_out_unheard_takes_the_first_late_answer(store: JobStore) -> None:
    meta = new_meta("any")
    await create(store, meta)
    timeout = make(meta.id, CONTROLLER, "timeout", 0, 1.0)
    assert (await apply(store, meta.id, timeout)).status == "failed"
    late = await apply(store, meta.id, make(meta.id, "a.example", "completed", 1, 2.0))
    other = await apply(store, meta.id, make(meta.id, "b.example", "completed", 1, 3.0))
    assert (late.rejected, late.new_events, other.rejected) == (0, 1, 1)
    detail = await store.detail(meta.id)
    assert detail is not None
    assert detail.status == "failed"
    assert set(detail.agent_states) == {"a.example"}
    assert detail.agent_states["a.example"].status == "completed"
