"""Console sessions: an API key exchanged once for a short-lived cookie. I/O: Redis.

The key is checked at login and never stored: Redis keeps only a random
session id's digest, mapped to the key's name, its digest (so a key removed
or rotated in the configuration ends its sessions at once) and a per-session
CSRF token. The id travels in an HttpOnly, SameSite=Strict cookie; the
API accepts it on the console's paths and the job event stream only
(controller/api/auth.py).

Key schema: ``corral:console:session:<sha256 of the id>``, a msgpack
:class:`Session`, expiring with the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from common.config import ApiKey
from controller.api.auth import SESSION_KEY
from controller.api.http import services_of
from controller.store.redis import RedisClient, as_bytes

COOKIE = "corral_session"
LIFETIME = 3600  # seconds: a session ends an hour after its login
_ENCODER = msgspec.msgpack.Encoder()


class Session(msgspec.Struct, frozen=True, kw_only=True):
    key_name: str
    key_sha256: str
    scopes: list[str]
    csrf: str
    created: float


_DECODER = msgspec.msgpack.Decoder(Session)


def session_key(session_id: str) -> str:
    return "corral:console:session:" + hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(redis: RedisClient, key: ApiKey) -> str:
    """A new session for ``key``: its id, for the cookie."""
    session_id = secrets.token_urlsafe(32)
    session = Session(
        key_name=key.name,
        key_sha256=key.sha256,
        scopes=sorted(key.scopes),
        csrf=secrets.token_urlsafe(32),
        created=time.time(),
    )
    await redis.set(session_key(session_id), _ENCODER.encode(session), ex=LIFETIME)
    return session_id


async def close_session(redis: RedisClient, session_id: str) -> None:
    await redis.delete(session_key(session_id))


async def find_session(redis: RedisClient, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 100:
        return None
    found = await redis.get(session_key(session_id))
    return None if found is None else _DECODER.decode(as_bytes(found))


def configured_key(keys: tuple[ApiKey, ...], session: Session) -> ApiKey | None:
    """The configured key the session stands for, if it is still configured unchanged."""
    for key in keys:
        if key.name == session.key_name and hmac.compare_digest(key.sha256, session.key_sha256):
            return key
    return None


async def resolve(request: Request) -> Session | None:
    """The request's live session, its key left in the request scope for the authenticator."""
    svc = services_of(request)
    session = await find_session(svc.store.redis, request.cookies.get(COOKIE, ""))
    if session is None:
        return None
    key = configured_key(svc.config.api_keys, session)
    if key is None:
        return None
    request.scope[SESSION_KEY] = key
    return session


def with_session(
    route: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """``route`` taking the console's cookie where no Authorization header came
    (the job event stream: EventSource cannot send headers)."""

    async def wrapped(request: Request) -> Response:
        if "authorization" not in request.headers and COOKIE in request.cookies:
            await resolve(request)
        return await route(request)

    return wrapped


def set_cookie(response: Response, session_id: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=LIFETIME,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
