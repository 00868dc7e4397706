"""API response shapes other than the job detail. Pure."""

from __future__ import annotations

import msgspec

from common.messages import Facts, Operation
from common.timefmt import rfc3339
from controller.store.agents import AgentRecord
from controller.store.jobs import JobSummary


class JobListItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    created: str | None
    updated_at: str | None
    operation: Operation
    target: str
    expected_agents: int
    finished_agents: int


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    total_items: int
    status_counts: dict[str, int]
    items: list[JobListItem]


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    labels: dict[str, str]
    state: str
    last_seen: str | None
    first_seen: str | None
    running: int
    refusals: dict[str, int]
    facts: Facts


def job_item(summary: JobSummary) -> JobListItem:
    return JobListItem(
        id=summary.id,
        status=summary.status,
        created=rfc3339(summary.created),
        updated_at=rfc3339(summary.updated),
        operation=summary.operation,
        target=summary.target,
        expected_agents=summary.expected,
        finished_agents=summary.done,
    )


def agent_view(record: AgentRecord, state: str) -> AgentView:
    return AgentView(
        hostname=record.hostname,
        labels=record.labels,
        state=state,
        last_seen=rfc3339(record.last_seen),
        first_seen=rfc3339(record.first_seen),
        running=record.running,
        refusals=record.refusals,
        facts=record.facts,
    )
