"""A rollout's claims against a real redis-server: each batch and host goes to one
controller, nothing is claimed once the job is final, and cancel finds the copies."""

from __future__ import annotations

import asyncio

import msgspec
from redis.asyncio import Redis

from common.rollout import Rollout
from controller.store.jobs import JobStore
from controller.store.rollouts import Claim, RolloutStore
from tests.controller.store.test_scripts_apply_final import NOW, create, new_meta

HOSTS = ["a.example", "b.example", "c.example", "d.example"]


async def rollout_job(store: JobStore) -> str:
    meta = msgspec.structs.replace(new_meta("label"), expected=HOSTS, rollout=Rollout(batch_size=2))
    await create(store, meta)
    return meta.id


async def test_two_controllers_claiming_one_batch_send_it_once(
    store: JobStore, redis: Redis
) -> None:
    job_id = await rollout_job(store)
    rollouts = RolloutStore(redis)
    first, second = await asyncio.gather(
        rollouts.claim(job_id, "batch", 1, "c1", NOW, HOSTS[:2]),
        rollouts.claim(job_id, "batch", 1, "c2", NOW, HOSTS[:2]),
    )
    assert sorted([first, second]) == [[], HOSTS[:2]]
    # A host already claimed is not claimed again, in any mode.
    assert await rollouts.claim(job_id, "more", 1, "c2", NOW, HOSTS[:3]) == [HOSTS[2]]
    state = await rollouts.state(job_id)
    assert state is not None
    assert state.batch == 1
    assert state.claims == {h: Claim(1, NOW) for h in HOSTS[:3]}


async def test_a_stop_claims_only_what_was_not_sent_and_keeps_the_first_count(
    store: JobStore, redis: Redis
) -> None:
    job_id = await rollout_job(store)
    rollouts = RolloutStore(redis)
    await rollouts.claim(job_id, "batch", 1, "c1", NOW, HOSTS[:2])
    assert await rollouts.claim(job_id, "stop", 2, "c1", NOW, HOSTS) == HOSTS[2:]
    assert await rollouts.claim(job_id, "stop", 3, "c2", NOW, HOSTS) == []
    state = await rollouts.state(job_id)
    assert state is not None
    assert state.stopped == 2
    assert {h for h, c in state.claims.items() if c.stopped} == set(HOSTS[2:])


async def test_nothing_is_claimed_once_the_job_is_final(store: JobStore, redis: Redis) -> None:
    job_id = await rollout_job(store)
    await store.set_final(job_id, "cancelled")
    assert await RolloutStore(redis).claim(job_id, "batch", 1, "c1", NOW, HOSTS[:2]) == []


async def test_cancel_learns_the_copies_sent_and_whether_one_is_unknown(
    store: JobStore, redis: Redis
) -> None:
    job_id = await rollout_job(store)
    rollouts = RolloutStore(redis)
    await rollouts.claim(job_id, "batch", 1, "c1", NOW, HOSTS[:2])
    await rollouts.acked(job_id, {HOSTS[0]: 41})
    assert await rollouts.messages(job_id) == ([41], True)
    await rollouts.acked(job_id, {HOSTS[1]: 42})
    assert await rollouts.messages(job_id) == ([41, 42], False)
    assert await rollouts.finished(job_id, 1, NOW + 5) == NOW + 5
    assert await rollouts.finished(job_id, 1, NOW + 9) == NOW + 5  # the first sighting stays
