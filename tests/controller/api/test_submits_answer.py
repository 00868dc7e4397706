"""The answer to a synchronous submit whose wait ended, against a real redis-server."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from controller.api.http import Services
from controller.api.submits import answer_final
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.read_cache import DetailReader
from tests.controller.store.test_read_cache import NOW, answer, apply, create, new_meta, uncached


def services(store: JobStore) -> Services:
    found = SimpleNamespace(control=ControlStore(store.redis), reader=DetailReader(store.redis))
    return cast(Services, found)


async def test_a_wait_that_ran_out_on_a_job_final_by_then_answers_its_detail(
    store: JobStore,
) -> None:
    """Its wake-up was lost (it cannot be awaited for ever): the job is final all the same."""
    meta = new_meta(["a.example"])
    await create(store, meta)
    await apply(store, meta.id, answer(meta.id, "a.example", NOW + 1))

    response = await answer_final(services(store), meta.id, None, replayed=False)

    assert response.status_code == 201
    assert response.body == await uncached(store, meta.id)


async def test_a_wait_that_ran_out_on_a_running_job_says_where_it_is(store: JobStore) -> None:
    meta = new_meta(["a.example"])
    await create(store, meta)

    response = await answer_final(services(store), meta.id, None, replayed=False)

    assert response.status_code == 202
    assert response.body == b'{"job_id":"' + meta.id.encode() + b'","status":"submitted"}'
