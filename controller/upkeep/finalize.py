"""How a job ends: timeouts for silent agents, and the final status. Pure: no I/O."""

from __future__ import annotations

from common import messages
from common.detail import single_agent
from common.fold import JobRecord
from common.job import CONTROLLER, JobMeta, final_status
from common.messages import TimedOut

TIMEOUT_REASON = "no answer before the deadline"


def unfinished(expected: list[str], record: JobRecord) -> list[str]:
    """The expected agents with no terminal state yet, in ``expected``'s order."""
    agents = record.agents
    return [h for h in expected if h not in agents or not agents[h].is_terminal]


def timeout_events(
    meta: JobMeta, record: JobRecord, now: float, reason: str = TIMEOUT_REASON
) -> list[TimedOut]:
    """``timeout`` events for every expected agent with no terminal state."""
    if meta.expected is None:
        if any(s.is_terminal for s in record.agents.values()):
            return []
        hosts = [CONTROLLER]
    else:
        hosts = unfinished(meta.expected, record)
    return [
        TimedOut(
            event_id=messages.event_id(meta.id, host, 0, "timeout"),
            job_id=meta.id,
            hostname=host,
            timestamp=now,
            error=reason,
        )
        for host in hosts
    ]


def decide_status(meta: JobMeta, record: JobRecord) -> str:
    if meta.single:
        agent = single_agent(meta, record)
        return "completed" if agent is not None and agent.status == "completed" else "failed"
    expected = meta.expected or []
    completed = sum(
        1 for h in expected if h in record.agents and record.agents[h].status == "completed"
    )
    return final_status(len(expected), completed)
