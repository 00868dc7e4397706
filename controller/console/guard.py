"""Who is using the console, and whether a form really came from its own page. I/O: Redis.

Every page needs a live session (else: to the login page). Every mutating
request carries the session's CSRF token in a hidden field or the
``X-CSRF-Token`` header, compared in constant time, and an ``Origin``, when
the browser sends one, naming this site: together with the SameSite=Strict
cookie, a form posted from another site is refused (403).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import RedirectResponse

from common.config import ApiKey
from common.errors import Forbidden, InvalidRequest
from controller.api.auth import grants
from controller.api.http import read_body, services_of
from controller.console.paths import link
from controller.console.sessions import Session, resolve

FORM_LIMIT = 64 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Visitor:
    session: Session
    key: ApiKey

    def may(self, scope: str) -> bool:
        return grants(self.key.scopes, scope)


async def visitor(request: Request) -> Visitor | None:
    session = await resolve(request)
    if session is None:
        return None
    key = services_of(request).auth.authenticate(request)  # the session's, via the auth seam
    return Visitor(session=session, key=key)


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(link("/login", next=here), status_code=303)


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin != own:
        raise Forbidden(f"a form from {origin[:100]!r} may not act on this console")


def check_csrf(request: Request, session: Session, form: dict[str, str]) -> None:
    check_origin(request)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page")


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form (what the console's forms send); the first value of each field."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidRequest("send the form as application/x-www-form-urlencoded")
    raw = await read_body(request, FORM_LIMIT)
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"form: {exc}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form
