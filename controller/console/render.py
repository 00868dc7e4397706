"""Rendering the console's pages: one Jinja2 environment and the headers every page gets. Pure.

Templates live in ``templates/`` inside this package, autoescaped; the
pages load only their own scripts and styles (``static/``), so the
Content-Security-Policy allows nothing else: no inline script, no other origin.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from controller.console.paths import UI

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it, browsers send "Origin: null" on the page's own forms.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def pretty(value: Any) -> str:
    """A response's data as indented JSON for a <pre>."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("controller.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = pretty
    env.filters["seconds"] = seconds
    env.globals["ui"] = UI
    return env


def page(template: str, code: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=code, headers=HEADERS)
