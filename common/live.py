"""What a watcher of one job is sent as each stored event is folded. Pure: no I/O.

A job's events are numbered in the order the store took them (its arrival
order, controller/store/keys.py ``order``): event N of a job is the same
for every watcher, so a watcher that reconnects says which it saw last and
is sent what follows, with no gap and no repeat. For each event the watcher
gets the timeline entry it adds and, when the event moved an agent, that
agent's new state, exactly as the job detail renders them.
"""

from __future__ import annotations

import msgspec

from common.detail import AgentStateView, TimelineItem, agent_states, timeline
from common.fold import JobRecord, fold, timeline_entry
from common.job import JobMeta
from common.messages import Event


class AgentChange(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    state: AgentStateView


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One folded event: the record after it, and what a watcher is told."""

    record: JobRecord
    entry: TimelineItem | None  # None: the event was folded before (a duplicate)
    agent: AgentChange | None  # None: no agent's state moved


def step(meta: JobMeta, record: JobRecord, event: Event) -> Step:
    after = fold(record, event)
    if after is record or event.event_id in record.seen:
        return Step(record=record, entry=None, agent=None)
    [entry] = timeline(JobRecord(timeline=(timeline_entry(event),)))
    host = event.hostname
    if after.agents.get(host) == record.agents.get(host):
        return Step(record=after, entry=entry, agent=None)
    state = agent_states(meta, JobRecord(agents={host: after.agents[host]}))[host]
    return Step(record=after, entry=entry, agent=AgentChange(hostname=host, state=state))
