"""What the console's pages show, computed from the API's own answers. Pure.

A job's agents are shown a page at a time (:data:`GRID_PAGE` cells), so a
broadcast to thousands of hosts renders, and refreshes live, in bounded work;
the timeline shows its newest :data:`TIMELINE_SHOWN` entries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from common.detail import AgentStateView, JobDetail, Response, TimelineItem

GRID_PAGE = 200
TIMELINE_SHOWN = 200
AGENTS_PAGE = 100
# Where each agent state sorts among the counts; a state not listed goes last.
STATE_ORDER = (
    "pending",
    "acknowledged",
    "started",
    "retried",
    "completed",
    "failed",
    "cancelled",
    "timeout",
)
FINISHED = frozenset({"completed", "failed", "cancelled", "timeout"})


@dataclass(frozen=True)
class Pages:
    page: int  # 1-based
    pages: int
    first: int  # index of the page's first item

    @classmethod
    def of(cls, total: int, size: int, asked: int) -> Pages:
        pages = max(1, -(-total // size))
        page = min(max(asked, 1), pages)
        return cls(page=page, pages=pages, first=(page - 1) * size)


@dataclass(frozen=True)
class Cell:
    hostname: str
    status: str
    state: AgentStateView | None
    response: Response | None


@dataclass(frozen=True)
class DetailView:
    detail: JobDetail
    counts: list[tuple[str, int]]
    finished: int
    agents: int
    shown_state: str | None
    pages: Pages
    cells: list[Cell]
    timeline: list[TimelineItem]
    timeline_total: int

    @property
    def summary(self) -> str:
        """One line for screen readers as the job moves."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts)
        return f"Job {self.detail.status}: {self.finished} of {self.agents} agents finished" + (
            f" ({counts})" if counts else ""
        )


def state_rank(state: str) -> tuple[int, str]:
    return (STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER), state)


def agent_status(detail: JobDetail, hostname: str) -> str:
    state = detail.agent_states.get(hostname)
    if state is not None:
        return state.status
    response = detail.responses.get(hostname)
    return response.status if response is not None else "pending"


def detail_view(detail: JobDetail, page: int, shown_state: str | None) -> DetailView:
    hosts = sorted(detail.agent_states.keys() | detail.responses.keys())
    statuses = {host: agent_status(detail, host) for host in hosts}
    counted = Counter(statuses.values())
    chosen = [h for h in hosts if shown_state is None or statuses[h] == shown_state]
    pages = Pages.of(len(chosen), GRID_PAGE, page)
    cells = [
        Cell(
            hostname=host,
            status=statuses[host],
            state=detail.agent_states.get(host),
            response=detail.responses.get(host),
        )
        for host in chosen[pages.first : pages.first + GRID_PAGE]
    ]
    return DetailView(
        detail=detail,
        counts=sorted(counted.items(), key=lambda item: state_rank(item[0])),
        finished=sum(n for state, n in counted.items() if state in FINISHED),
        agents=len(hosts),
        shown_state=shown_state,
        pages=pages,
        cells=cells,
        timeline=detail.timeline[-TIMELINE_SHOWN:],
        timeline_total=len(detail.timeline),
    )


def shows_drained(items: list[dict[str, Any]]) -> bool:
    """Whether any agent record says if it is drained (the column shows only then)."""
    return any("drained" in item for item in items)
