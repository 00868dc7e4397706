"""How a job ends: a pure plan, carried out by thin store calls. The plan does no I/O.

A job ends when its last expected agent is done (the apply script usually
decides that itself, controller/store/scripts.py) or when its deadline has
passed: every expected agent still silent then ends ``timeout`` and the job
gets its final status from the fold. :func:`plan` decides what to write
from the stored record alone; :func:`finalize` loads, plans and writes, and
is safe to run from any number of controllers at once: final statuses only
move forward, and every finalizer files the status the record kept.
"""

from __future__ import annotations

import msgspec

from common import messages
from common.detail import single_agent
from common.fold import JobRecord, fold_all
from common.job import CONTROLLER, FINAL_STATUSES, JobMeta, final_status
from common.messages import ENCODER, TimedOut
from controller.store.jobs import JobStore

TIMEOUT_REASON = "no answer before the deadline"


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """What finalizing a loaded job writes: ``timeouts`` first, then ``status``."""

    timeouts: list[TimedOut]
    status: str
    # The job was final already: only the listing may need to catch up.
    already_final: bool = False


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
    states = [record.agents[h].status for h in expected if h in record.agents]
    return final_status(len(expected), states.count("completed"), states.count("skipped"))


def plan(
    meta: JobMeta, status: str, record: JobRecord, now: float, *, deadline_passed: bool, reason: str
) -> Plan:
    """What to write to finalize a job whose stored status is ``status``."""
    if status in FINAL_STATUSES:
        return Plan(timeouts=[], status=status, already_final=True)
    timeouts = timeout_events(meta, record, now, reason) if deadline_passed else []
    return Plan(timeouts=timeouts, status=decide_status(meta, fold_all(timeouts, record)))


async def finalize(
    store: JobStore,
    job_id: str,
    now: float,
    *,
    deadline_passed: bool,
    reason: str = TIMEOUT_REASON,
) -> str | None:
    """Give a job its final status; at the deadline, silent agents end ``timeout``.

    The status the job ends with, or None if it is gone.
    """
    loaded = await store.load(job_id)
    if loaded is None:
        await store.forget_open(job_id)
        return None
    meta, status, events = loaded
    step = plan(meta, status, fold_all(events), now, deadline_passed=deadline_passed, reason=reason)
    if step.timeouts:
        applied = await store.apply({job_id: [(e, ENCODER.encode(e)) for e in step.timeouts]})
        if applied[job_id].status in FINAL_STATUSES:
            # The script gave the final status (or a cancel came first): file it.
            return await finalize(store, job_id, now, deadline_passed=False)
    kept = step.status if step.already_final else await store.set_final(job_id, step.status)
    if kept is None:
        await store.forget_open(job_id)
        return None
    # File the status the record kept, not the one planned here: another
    # finalizer (the collector, a cancel, a second controller) may have
    # written its own first, and a final status never changes.
    await store.file_final(job_id, kept, meta.created)
    return kept
