"""Where a watched job stands, taken from its live events, and its plain lines. Pure.

:class:`JobProgress` takes the events of ``GET /job/{id}/events``
(corral_sdk/sse.py) one at a time and answers what ``corral job watch``
shows: agents finished out of expected, counts by per-agent status, the
slowest agents still running. The clock is a parameter, never read here.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime

from common.detail import AgentStateView, JobDetail
from common.job import FINAL_STATUSES, AgentStatus
from corral_sdk.sse import Final, JobEvent, Progress, Snapshot

AGENT_STATUSES: tuple[str, ...] = typing.get_args(AgentStatus)
# An agent in one of these has nothing more to say about the job.
FINISHED = frozenset({"completed", "failed", "skipped", "cancelled", "timeout"})
# Shown even at zero, so the line keeps its shape while the job runs.
ALWAYS_SHOWN = tuple(s for s in AGENT_STATUSES if s != "retried")


def exit_code(status: str) -> int:
    """0 for a completed job; 1 for failed, partial_failure or cancelled."""
    return 0 if status == "completed" else 1


def _epoch(stamp: str | None) -> float | None:
    return None if stamp is None else datetime.fromisoformat(stamp).timestamp()


@dataclass(frozen=True)
class Running:
    """An agent not finished yet, and for how long it has been at the job."""

    hostname: str
    status: str
    seconds: float


class JobProgress:
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.operation = ""
        self.status = "submitted"
        self.created: float | None = None
        self.states: dict[str, AgentStateView] = {}
        self.final: JobDetail | None = None
        self.last_id: int | None = None  # to resume the stream after this event

    def take(self, event: JobEvent) -> list[str]:
        """Take one event in; the hostnames whose status it changed."""
        self.last_id = event.id
        if isinstance(event, Progress):
            change = event.agent
            if change is None or self._status(change.hostname) == change.state.status:
                return []
            self.states[change.hostname] = change.state
            if self.status == "submitted":
                self.status = "processing"  # the detail says so too, from the first event on
            return [change.hostname]
        before = {host: state.status for host, state in self.states.items()}
        self._take_detail(event.detail)
        if isinstance(event, Final):
            self.final = event.detail
        return [host for host, state in self.states.items() if before.get(host) != state.status]

    def _take_detail(self, detail: JobDetail) -> None:
        self.operation = detail.operation.type
        self.status = detail.status
        self.created = _epoch(detail.created)
        self.states = dict(detail.agent_states)

    def _status(self, hostname: str) -> str | None:
        state = self.states.get(hostname)
        return None if state is None else state.status

    def _counted(self) -> list[AgentStateView]:
        return [state for state in self.states.values() if state.expected]

    @property
    def expected(self) -> int:
        """Agents the job waits for; one for ``_any`` before an agent took it."""
        return max(len(self._counted()), 1)

    @property
    def finished(self) -> int:
        return sum(state.status in FINISHED for state in self._counted())

    def counts(self) -> dict[str, int]:
        """Agents by per-agent status: every usual one, ``retried`` only when some are."""
        found = dict.fromkeys(ALWAYS_SHOWN, 0)
        for state in self._counted():
            found[state.status] = found.get(state.status, 0) + 1
        return found

    def slowest(self, now: float, limit: int = 5) -> list[Running]:
        """The agents still at the job, longest first: since they started, acknowledged,
        or (still pending) since the job was created."""
        running = []
        for host, state in self.states.items():
            if state.status in FINISHED:
                continue
            since = _epoch(state.started_at or state.acknowledged_at) or self.created
            seconds = 0.0 if since is None else max(now - since, 0.0)
            running.append(Running(host, state.status, seconds))
        running.sort(key=lambda r: (-r.seconds, r.hostname))
        return running[:limit]

    def summary(self) -> str:
        """``2/3 finished: pending=0 acknowledged=0 started=1 completed=2 ...``"""
        counts = " ".join(f"{status}={n}" for status, n in self.counts().items())
        return f"{self.finished}/{self.expected} finished: {counts}"


def plain_lines(progress: JobProgress, changed: list[str], event: JobEvent) -> list[str]:
    """What one event prints when stdout is not a terminal: one line per change."""
    head = f"job {progress.job_id} {progress.operation}"
    if isinstance(event, Snapshot):
        # A job final already: its final event follows at once, and says it all.
        return (
            []
            if progress.status in FINAL_STATUSES
            else [f"{head} {progress.status}, {progress.summary()}"]
        )
    lines = [
        f"{host} {progress.states[host].status}"
        f"{_error(progress.states[host])}; {progress.finished}/{progress.expected} finished"
        for host in changed
    ]
    if isinstance(event, Final):
        lines.append(f"{head} {progress.status}, {progress.summary()}")
    return lines


def _error(state: AgentStateView) -> str:
    return f" ({state.error})" if state.error else ""
