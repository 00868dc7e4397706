"""Building the API's answers (common/api.py) from what the store and registry hold. Pure."""

from __future__ import annotations

from common.api import AgentView, JobListItem
from common.timefmt import rfc3339
from controller.store.agents import AgentRecord
from controller.store.jobs import JobSummary


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


def agent_view(record: AgentRecord, state: str, drained: bool) -> AgentView:
    return AgentView(
        hostname=record.hostname,
        labels=record.labels,
        state=state,
        last_seen=rfc3339(record.last_seen),
        first_seen=rfc3339(record.first_seen),
        running=record.running,
        refusals=record.refusals,
        facts=record.facts,
        drained=drained,
    )
