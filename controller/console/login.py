"""Logging in and out of the console. I/O: Redis.

``POST /ui/login`` takes the API key from a form (never from a URL), checks it
as the API does and answers with the session cookie; the key itself is
dropped. A wrong key is a 401 page (audited as a refused key, like any
mutating call). ``POST /ui/logout`` deletes the session.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from controller.api.audit import note
from controller.api.http import services_of
from controller.console.guard import check_csrf, check_origin, read_form, visitor
from controller.console.paths import UI, safe_next
from controller.console.render import page
from controller.console.sessions import (
    COOKIE,
    clear_cookie,
    close_session,
    open_session,
    set_cookie,
)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def login_page(request: Request) -> Response:
    return page("login.html", next=safe_next(request.query_params.get("next")), error=None)


async def login(request: Request) -> Response:
    check_origin(request)  # no session yet: a login forged by another site is refused here
    form = await read_form(request)
    target = safe_next(form.get("next"))
    svc = services_of(request)
    key = svc.auth.identify(form.get("api_key", "").strip())
    if key is None:
        note(request, details="console login with an unknown key")
        return page("login.html", 401, next=target, error="That API key is not valid.")
    note(request, key=key.name, details="console login")
    session_id = await open_session(svc.store.redis, key)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, session_id, _secure(request))
    return response


async def logout(request: Request) -> Response:
    form = await read_form(request)
    found = await visitor(request)
    if found is not None:
        check_csrf(request, found.session, form)
        await close_session(services_of(request).store.redis, request.cookies.get(COOKIE, ""))
    response = RedirectResponse(UI + "/login", status_code=303)
    clear_cookie(response, _secure(request))
    return response
