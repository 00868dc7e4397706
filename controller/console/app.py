"""The console's routes, mounted by the API app at ``/ui``. Pure but for HTTP.

Pages: ``/ui/`` (jobs), ``/ui/job/{id}`` (one job, live), ``/ui/agents``,
``/ui/submit``; the parts the pages' scripts fetch; login and logout; the
static files (the console's own CSS and scripts, no build step).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from controller.console import login, pages, submit
from controller.console.pages import signed_in
from controller.console.paths import UI

STATIC = Path(__file__).parent / "static"


def console_mount() -> Mount:
    return Mount(
        UI,
        routes=[
            Route("/", signed_in(pages.jobs), methods=["GET"]),
            Route("/login", login.login_page, methods=["GET"]),
            Route("/login", login.login, methods=["POST"]),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/job/{job_id}", signed_in(pages.job), methods=["GET"]),
            Route("/job/{job_id}/live", signed_in(pages.job_live, part=True), methods=["GET"]),
            Route("/agents", signed_in(pages.agents), methods=["GET"]),
            Route("/submit", signed_in(submit.submit_page), methods=["GET"]),
            Route("/submit", signed_in(submit.submit), methods=["POST"]),
            Route("/submit/fields", signed_in(submit.submit_fields, part=True), methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
    )
