"""The console's routes, added to the API app's table under ``/ui``. Pure but for HTTP.

Pages: ``/ui/`` (jobs), ``/ui/job/{id}`` (one job, live), ``/ui/agents``,
``/ui/submit``; the parts the pages' scripts fetch; login and logout; the
static files (the console's own CSS and scripts, no build step). Full paths,
not a mounted sub-app, so the audit log and the request metrics name them
as they are (``/ui/login``, not ``/login``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from controller.console import login, pages, submit
from controller.console.pages import signed_in
from controller.console.paths import UI

STATIC = Path(__file__).parent / "static"


def console_routes() -> list[BaseRoute]:
    return [
        Route(UI + "/", signed_in(pages.jobs), methods=["GET"]),
        Route(UI + "/login", login.login_page, methods=["GET"]),
        Route(UI + "/login", login.login, methods=["POST"]),
        Route(UI + "/logout", login.logout, methods=["POST"]),
        Route(UI + "/job/{job_id}", signed_in(pages.job), methods=["GET"]),
        Route(UI + "/job/{job_id}/live", signed_in(pages.job_live, part=True), methods=["GET"]),
        Route(UI + "/agents", signed_in(pages.agents), methods=["GET"]),
        Route(UI + "/submit", signed_in(submit.submit_page), methods=["GET"]),
        Route(UI + "/submit", signed_in(submit.submit), methods=["POST"]),
        Route(UI + "/submit/fields", signed_in(submit.submit_fields, part=True), methods=["GET"]),
        Mount(UI + "/static", StaticFiles(directory=STATIC), name="console-static"),
    ]
