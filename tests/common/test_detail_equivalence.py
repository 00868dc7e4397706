"""The faster render (common/detail.py) encodes to the same bytes as the plain one it replaced.

The reference below is the render the API served before the read path was
made fast: one pending view per expected agent overwritten by the folded
states, and every timestamp formatted on its own. Any record, any expected
set, any status: the encoded documents must be identical.
"""

from __future__ import annotations

from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from common.detail import (
    DETAIL_ENCODER,
    AgentStateView,
    JobDetail,
    TimelineItem,
    job_changed,
    job_error,
    render,
    responses,
    shown_operation,
    single_agent,
)
from common.fold import EMPTY, AgentState, JobRecord, fold
from common.job import JOB_STATUSES, JobMeta
from common.messages import Event, Operation
from common.timefmt import rfc3339
from tests.common.test_fold import HOSTS, JOB, agent_histories


def reference_view(state: AgentState, expected: bool) -> AgentStateView:
    return AgentStateView(
        status=state.status,
        error=state.error,
        duration=state.duration,
        attempt=state.attempt,
        acknowledged_at=rfc3339(state.acknowledged_at),
        started_at=rfc3339(state.started_at),
        finished_at=rfc3339(state.finished_at),
        late=state.late,
        expected=expected,
    )


def reference_states(meta: JobMeta, record: JobRecord) -> dict[str, AgentStateView]:
    expected = set(meta.expected or ())
    pending = AgentStateView(
        status="pending",
        error=None,
        duration=None,
        attempt=0,
        acknowledged_at=None,
        started_at=None,
        finished_at=None,
        late=False,
        expected=True,
    )
    views = {host: pending for host in sorted(expected)}
    for host, state in record.agents.items():
        views[host] = reference_view(state, host in expected or not meta.expected)
    return dict(sorted(views.items()))


def reference_render(meta: JobMeta, record: JobRecord, status: str) -> JobDetail:
    agent = single_agent(meta, record)
    updated = max(meta.created, record.updated_at or meta.created)
    return JobDetail(
        id=meta.id,
        status=status,
        created=rfc3339(meta.created),
        operation=shown_operation(meta, record, status),
        result=agent.data if agent is not None and status == "completed" else None,
        changed=job_changed(meta, record, status),
        error=job_error(meta, record, status),
        hostname=agent.hostname if agent is not None else None,
        updated_at=rfc3339(updated),
        responses=responses(record),
        agent_states=reference_states(meta, record),
        timeline=[
            TimelineItem(
                timestamp=rfc3339(e.timestamp),
                event=e.event,
                hostname=e.hostname,
                message=e.message,
                error=e.error,
            )
            for e in record.timeline
        ],
    )


@st.composite
def metas(draw: st.DrawFn) -> JobMeta:
    kind = draw(st.sampled_from(["any", "host", "group"]))
    if kind == "any":
        expected, single = None, True
    elif kind == "host":
        expected, single = [draw(st.sampled_from([*HOSTS, "elsewhere.local"]))], True
    else:
        pool = [*HOSTS, "silent-1.dev.local", "silent-2.dev.local"]
        expected, single = draw(st.lists(st.sampled_from(pool), min_size=1, unique=True)), False
    return JobMeta(
        id=JOB,
        operation=Operation(type="test.echo", data={"n": 1}),
        target="_all",
        created=draw(st.floats(min_value=0.0, max_value=5.0)),
        deadline=40.0,
        timeout=30.0,
        expected=expected,
        single=single,
    )


@settings(max_examples=300)
@given(agent_histories(), metas(), st.sampled_from(JOB_STATUSES))
def test_render_encodes_the_same_bytes_as_the_reference(
    events: list[Event], meta: JobMeta, status: str
) -> None:
    record = reduce(fold, events, EMPTY)
    assert DETAIL_ENCODER.encode(render(meta, record, status)) == DETAIL_ENCODER.encode(
        reference_render(meta, record, status)
    )
