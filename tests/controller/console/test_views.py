"""Tests for controller/console/views.py and the job page's templates: a big broadcast, paged."""

from __future__ import annotations

import re

from common.detail import AgentStateView, JobDetail, Response, ShownOperation, TimelineItem
from controller.console.paths import safe_next
from controller.console.render import environment
from controller.console.views import GRID_PAGE, TIMELINE_SHOWN, Pages, detail_view

AGENTS = 1000


def state(status: str) -> AgentStateView:
    return AgentStateView(
        status=status,
        error=None,
        duration=0.5 if status == "completed" else None,
        attempt=1,
        acknowledged_at=None,
        started_at=None,
        finished_at=None,
        late=False,
        expected=True,
    )


def broadcast(agents: int = AGENTS) -> JobDetail:
    """A broadcast to ``agents`` hosts: every third completed, the others started."""
    hosts = [f"host-{i:04d}.test" for i in range(agents)]
    statuses = {h: "completed" if i % 3 == 0 else "started" for i, h in enumerate(hosts)}
    return JobDetail(
        id="0b1e5f5e-8a11-4e37-9d5c-2a4f7e0c9b11",
        status="processing",
        created="2025-01-01T00:00:00Z",
        operation=ShownOperation(type="test.sleep", data={"seconds": 1}),
        result=None,
        changed=None,
        error=None,
        hostname=None,
        updated_at="2025-01-01T00:00:01Z",
        responses={
            h: Response(
                status="completed", data={"slept": 1}, changed=False, error=None, hostname=h
            )
            for h, s in statuses.items()
            if s == "completed"
        },
        agent_states={h: state(s) for h, s in statuses.items()},
        timeline=[
            TimelineItem(timestamp=None, event="started", hostname=h, message="", error=None)
            for h in hosts
        ],
    )


def test_a_thousand_agents_are_shown_a_page_at_a_time() -> None:
    view = detail_view(broadcast(), page=2, shown_state=None)
    assert (view.agents, view.pages.pages, view.pages.page) == (AGENTS, 5, 2)
    assert [c.hostname for c in view.cells][:1] == ["host-0200.test"]
    assert len(view.cells) == GRID_PAGE
    assert dict(view.counts) == {"started": 666, "completed": 334}
    assert view.finished == 334
    assert len(view.timeline) == TIMELINE_SHOWN
    assert view.timeline_total == AGENTS


def test_the_grid_filters_by_state_and_a_page_past_the_end_shows_the_last() -> None:
    view = detail_view(broadcast(), page=99, shown_state="completed")
    assert view.pages.pages == 2
    assert view.pages.page == 2
    assert {c.status for c in view.cells} == {"completed"}


def test_the_live_part_renders_one_page_of_cells_with_text_labels() -> None:
    view = detail_view(broadcast(), page=1, shown_state=None)
    html = environment().get_template("job_live.html").render(view=view, final=False, states=())
    cells = re.findall(r'<li class="cell state-(\w+)" data-host="([^"]+)"', html)
    assert len(cells) == GRID_PAGE
    # The state is a word in the cell, not only its colour.
    assert '<span class="host">host-0000.test</span> <span class="state">completed</span>' in html
    assert 'rel="next" href="?page=2"' in html
    assert 'data-summary="Job processing: 334 of 1000 agents finished' in html


def test_pages_of_nothing_is_one_empty_page() -> None:
    assert Pages.of(0, 20, 5) == Pages(page=1, pages=1, first=0)


def test_after_login_only_a_console_page_is_a_destination() -> None:
    assert safe_next("/ui/job/x?page=2") == "/ui/job/x?page=2"
    for elsewhere in ("https://evil.example/", "//evil.example/ui/", "/job", "/ui\\x", None):
        assert safe_next(elsewhere) == "/ui/"
