"""The apply script's final status is the fold's, whatever the order and batching.

Against a real redis-server: events of one job, in any order, split into any
batches, go through :meth:`JobStore.apply`. The batch that makes the job due
(every expected agent answered; for ``_any``, anyone did) must give it the
status :func:`controller.upkeep.finalize.decide_status` gives the fold of the events
stored at that point (first copy wins), and no later batch may change it.
"""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.fold import fold_all
from common.job import CONTROLLER, FINAL_STATUSES, JobMeta
from common.messages import (
    ENCODER,
    TERMINAL_EVENTS,
    Acknowledged,
    Cancelled,
    Completed,
    Event,
    Failed,
    Operation,
    Retried,
    Skipped,
    Started,
    Submitted,
    TimedOut,
    event_id,
    event_kind,
)
from controller.store.jobs import JobStore
from controller.store.keys import job_key, terminal_key
from controller.store.scripts import SCRIPTS, UNDECIDED
from controller.upkeep.finalize import decide_status, finalize

pytestmark = pytest.mark.both_redis  # the store must act alike on both

NOW = time.time()
KINDS: dict[str, type[Event]] = {
    "acknowledged": Acknowledged,
    "started": Started,
    "retried": Retried,
    "completed": Completed,
    "failed": Failed,
    "skipped": Skipped,
    "cancelled": Cancelled,
    "timeout": TimedOut,
}
# Kind of job -> (expected agents or None for _any, single, hosts events come from).
JOBS = {
    "any": (None, True, ["a.example", "b.example", CONTROLLER]),
    "host": (["a.example"], True, ["a.example", "z.example"]),
    "label": (
        ["a.example", "b.example", "c.example"],
        False,
        ["a.example", "b.example", "c.example", "z.example"],
    ),
}


def new_meta(kind: str) -> JobMeta:
    expected, single, _ = JOBS[kind]
    return JobMeta(
        id=str(uuid.uuid4()),
        operation=Operation(type="node.ping"),
        target={"any": "_any", "host": "a.example", "label": "role:web"}[kind],
        created=NOW,
        deadline=NOW + 3600.0,
        timeout=3600.0,
        expected=expected,
        single=single,
    )


async def create(store: JobStore, meta: JobMeta) -> None:
    submitted = Submitted(
        event_id=event_id(meta.id, CONTROLLER, 0, "submitted"),
        job_id=meta.id,
        hostname=CONTROLLER,
        timestamp=meta.created,
    )
    await store.create(meta, submitted)


def make(job_id: str, host: str, kind: str, attempt: int, ts: float) -> Event:
    return KINDS[kind](
        event_id=event_id(job_id, host, attempt, kind),
        job_id=job_id,
        hostname=host,
        timestamp=NOW + ts,
        attempt=attempt,
    )


# (host index, kind, attempt, timestamp offset): few values, so ties and
# duplicate ids (same host, attempt and kind, another timestamp) happen.
SPECS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(sorted(KINDS)),
        st.integers(0, 2),
        st.sampled_from([1.0, 1.5, 2.0]),
    ),
    min_size=1,
    max_size=14,
)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def due(meta: JobMeta, stored: dict[str, Event]) -> bool:
    """Python's view of "every expected agent answered" (anyone, for _any)."""
    answered = {e.hostname for e in stored.values() if event_kind(e) in TERMINAL_EVENTS}
    if meta.expected is None:
        return bool(answered)
    return set(meta.expected) <= answered


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(sorted(JOBS)),
    specs=SPECS,
    cuts=st.lists(st.integers(1, 13), max_size=4),
)
async def test_script_status_is_decide_status_of_the_stored_events(
    store: JobStore, kind: str, specs: list[tuple[int, str, int, float]], cuts: list[int]
) -> None:
    meta = new_meta(kind)
    hosts = JOBS[kind][2]
    await create(store, meta)
    events = [make(meta.id, hosts[h % len(hosts)], k, a, ts) for h, k, a, ts in specs]
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    stored: dict[str, Event] = {}
    final: str | None = None
    for start, end in itertools.pairwise(bounds):
        batch = events[start:end]
        outcome = (await store.apply({meta.id: [(e, ENCODER.encode(e)) for e in batch]}))[meta.id]
        for event in batch:
            stored.setdefault(event.event_id, event)
        status = _text(await store.redis.hget(job_key(meta.id), "status"))
        assert outcome.flag != UNDECIDED
        assert outcome.status == status
        if final is not None:
            assert status == final, "a final status never changes"
            assert not outcome.finished
            continue
        assert outcome.finished == due(meta, stored)
        if outcome.finished:
            assert status == decide_status(meta, fold_all(stored.values()))
            final = status
        else:
            assert status not in FINAL_STATUSES


async def test_two_agents_answering_one_any_job_in_one_batch(store: JobStore) -> None:
    """Redelivery after an agent died: both answers land together; the greater head wins."""
    meta = new_meta("any")
    await create(store, meta)
    first = make(meta.id, "a.example", "failed", 1, 2.0)
    second = make(meta.id, "b.example", "completed", 2, 1.0)
    outcome = (await store.apply({meta.id: [(e, ENCODER.encode(e)) for e in (first, second)]}))[
        meta.id
    ]
    assert outcome.finished
    assert outcome.status == "completed" == decide_status(meta, fold_all([first, second]))


async def test_late_answer_after_final_is_stored_but_changes_nothing(store: JobStore) -> None:
    meta = new_meta("label")
    await create(store, meta)
    answers = [make(meta.id, h, "failed", 1, 1.0) for h in JOBS["label"][0] or []]
    outcome = (await store.apply({meta.id: [(e, ENCODER.encode(e)) for e in answers]}))[meta.id]
    assert (outcome.finished, outcome.status) == (True, "failed")
    # A retried attempt that completes after the job was finalized: flagged late on read.
    late = make(meta.id, "a.example", "completed", 2, 3.0)
    again = (await store.apply({meta.id: [(late, ENCODER.encode(late))]}))[meta.id]
    assert (again.finished, again.status, again.new_events) == (False, "failed", 1)
    assert (await store.redis.hget(job_key(meta.id), "status")) == b"failed"
    detail = await store.detail(meta.id)
    assert detail is not None
    assert detail.status == "failed"


async def test_an_older_terminal_format_is_left_to_finalize(store: JobStore) -> None:
    """A job in flight across an upgrade: the terminal hash holds a plain event id."""
    meta = new_meta("label")
    await create(store, meta)
    hosts = JOBS["label"][0] or []
    old = make(meta.id, hosts[0], "completed", 1, 1.0)
    await store.apply({meta.id: [(old, ENCODER.encode(old))]})
    await store.redis.hset(terminal_key(meta.id), hosts[0], old.event_id)
    rest = [make(meta.id, h, "completed", 1, 1.0) for h in hosts[1:]]
    outcome = (await store.apply({meta.id: [(e, ENCODER.encode(e)) for e in rest]}))[meta.id]
    assert outcome.ready_to_finalize
    assert not outcome.finished
    assert outcome.status == "processing"
    assert await finalize(store, meta.id, NOW, deadline_passed=False) == "completed"


async def test_deadline_of_a_silent_any_job_ends_failed(store: JobStore) -> None:
    """The sweeper's path: the controller's own timeout is no agent's answer."""
    meta = new_meta("any")
    await create(store, meta)
    ack = make(meta.id, "a.example", "acknowledged", 1, 1.0)
    await store.apply({meta.id: [(ack, ENCODER.encode(ack))]})
    assert await finalize(store, meta.id, NOW + 10, deadline_passed=True) == "failed"
    assert (await store.redis.hget(job_key(meta.id), "status")) == b"failed"
    assert await store.redis.zscore("corral:{index}:status:failed", meta.id) == NOW


async def test_scripts_are_reloaded_after_redis_forgets_them(store: JobStore) -> None:
    meta = new_meta("host")
    await create(store, meta)
    await store.redis.script_flush()
    done = make(meta.id, "a.example", "completed", 1, 1.0)
    outcome = (await store.apply({meta.id: [(done, ENCODER.encode(done))]}))[meta.id]
    assert (outcome.finished, outcome.status) == (True, "completed")
    assert await store.redis.zscore("corral:{index}:status:completed", meta.id) == NOW
    assert await store.redis.zscore("corral:{index}:open", meta.id) is None


async def test_scripts_loaded_by_halves_answer_each_command_as_run_once(store: JobStore) -> None:
    """Redis has the apply script but not the snapshot one (another pipeline is loading
    them): the apply's answer is its own run's, not that of a run again after the load."""
    meta = new_meta("host")
    await create(store, meta)
    await store.redis.script_flush()
    await store.redis.script_load(SCRIPTS["apply"])
    done = make(meta.id, "a.example", "completed", 1, 1.0)
    applied = await store.apply_events({meta.id: [(done, ENCODER.encode(done))]}, [meta.id])
    outcome = applied.outcomes[meta.id]
    assert (outcome.finished, outcome.new_events, outcome.status) == (True, 1, "completed")
    assert applied.snapshots[meta.id][1] == b"completed"  # read after the apply


async def test_a_dispatch_mark_reloads_its_script_and_leaves_the_undispatched_index(
    store: JobStore,
) -> None:
    meta = new_meta("host")
    await create(store, meta)
    assert await store.redis.zscore("corral:{index}:undispatched", meta.id) is not None
    await store.redis.script_flush()
    await store.mark_dispatched([(meta.id, 41), ("gone-job", 42)])
    assert await store.redis.hmget(job_key(meta.id), "dispatched", "seq") == [b"1", b"41"]
    assert await store.redis.zscore("corral:{index}:undispatched", meta.id) is None
    assert not await store.redis.exists(job_key("gone-job")), "no record made for a lost job"
