"""Writing new jobs together (controller/store/jobs.py ``create_many``): a record that
could not be written leaves nothing listed, counted or swept behind."""

from __future__ import annotations

import pytest

from common.job import CONTROLLER
from common.messages import Submitted, event_id
from controller.store.jobs import JobStore
from controller.store.keys import INDEX_OPEN, INDEX_UNDISPATCHED, events_key
from tests.controller.store.test_scripts_apply_final import new_meta

pytestmark = pytest.mark.both_redis  # on a cluster, its keys and the indexes are apart


def submitted(job_id: str, at: float) -> Submitted:
    return Submitted(
        event_id=event_id(job_id, CONTROLLER, 0, "submitted"),
        job_id=job_id,
        hostname=CONTROLLER,
        timestamp=at,
    )


async def test_a_record_not_written_is_not_left_in_the_indexes(store: JobStore) -> None:
    kept, broken = new_meta("host"), new_meta("label")
    # A key of the wrong type makes this one record's writes fail, and only its.
    await store.redis.set(events_key(broken.id), "not a hash")
    outcomes = await store.create_many(
        [(meta, submitted(meta.id, meta.created), None) for meta in (kept, broken)]
    )
    assert outcomes[0] is None
    assert "WRONGTYPE" in str(outcomes[1])
    total, counts, items = await store.listing(None, 10, 0)
    assert (total, counts["submitted"], [item.id for item in items]) == (1, 1, [kept.id])
    assert await store.redis.zrange(INDEX_OPEN, 0, -1) == [kept.id.encode()]
    assert await store.redis.zrange(INDEX_UNDISPATCHED, 0, -1) == [kept.id.encode()]
