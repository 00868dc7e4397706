"""Where the console lives and the links between its pages. Pure."""

from __future__ import annotations

from urllib.parse import urlencode

UI = "/ui"


def link(path: str, **query: str | int | None) -> str:
    """``/ui<path>`` with the query parameters that are set."""
    shown = {name: value for name, value in query.items() if value not in (None, "")}
    return UI + path + ("?" + urlencode(shown) if shown else "")


def safe_next(raw: str | None) -> str:
    """Where to go after login: a console page only, never another site."""
    if raw and raw.startswith(UI + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return UI + "/"
