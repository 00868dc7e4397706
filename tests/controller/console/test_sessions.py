"""The console's login, session cookie and CSRF checks against a whole stack (tests/harness.py).

controller/console/sessions.py, guard.py, login.py and the cookie path of
controller/api/auth.py, seen from a client as a browser would be.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from controller.console.sessions import COOKIE, LIFETIME, session_key
from controller.store.redis import connect_redis
from tests.harness import ADMIN_KEY, Stack

pytestmark = pytest.mark.both_redis  # on a single redis-server and on a cluster

UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no Authorization header: it has only what the console gives it."""
    async with httpx.AsyncClient(base_url=str(stack.api.base_url), timeout=10.0) as client:
        yield client


async def log_in(browser: httpx.AsyncClient, key: str = ADMIN_KEY) -> httpx.Response:
    return await browser.post("/ui/login", data={"api_key": key, "next": "/ui/agents"})


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_a_key_becomes_a_strict_httponly_cookie_good_on_console_paths_only(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    refused = await log_in(browser, "not-a-key")
    assert refused.status_code == 401
    assert "That API key is not valid." in refused.text
    assert "set-cookie" not in refused.headers
    audit = await stack.api.get("/audit", params={"route": "/ui/login", "status": 401})
    [entry] = audit.json()["items"]
    assert entry["details"] == "console login with an unknown key"

    response = await log_in(browser)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/agents"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert f"max-age={LIFETIME}" in cookie.lower()
    assert "secure" not in attributes  # plain http on loopback; https sets it
    session_id = browser.cookies[COOKIE]
    assert ADMIN_KEY not in cookie

    # Redis holds the session under the id's digest, and not the key.
    async with connect_redis(stack.redis_url) as redis:
        stored = await redis.get(session_key(session_id))
        assert stored is not None
        assert ADMIN_KEY.encode() not in stored
        assert hashlib.sha256(ADMIN_KEY.encode()).hexdigest().encode() in stored
        assert 0 < await redis.ttl(session_key(session_id)) <= LIFETIME

    assert (await browser.get("/ui/agents")).status_code == 200
    # The job event stream takes the cookie (404: authenticated, no such job)...
    assert (await browser.get(f"/job/{UNKNOWN_JOB}/events")).status_code == 404
    # ...no other API route does.
    for path in ("/job", f"/job/{UNKNOWN_JOB}", "/agent", "/operation", "/events"):
        assert (await browser.get(path)).status_code == 401, path

    page = await browser.get("/ui/")
    logout = await browser.post("/ui/logout", data={"csrf_token": csrf_token(page.text)})
    assert logout.status_code == 303
    async with connect_redis(stack.redis_url) as redis:
        assert await redis.get(session_key(session_id)) is None
    # The old cookie, sent again, opens nothing.
    browser.cookies.set(COOKIE, session_id)
    again = await browser.get("/ui/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/ui/login")
    assert (await browser.get(f"/job/{UNKNOWN_JOB}/events")).status_code == 401


async def test_a_form_without_its_csrf_token_or_from_another_site_is_403(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    assert (await log_in(browser)).status_code == 303
    form_page = await browser.get("/ui/submit?operation=test.ping")
    assert form_page.status_code == 200
    form = {
        "operation": "test.ping",
        "target_kind": "_any",
        "form_id": "f" * 22,
    }
    assert (await browser.post("/ui/submit", data=form)).status_code == 403
    stale = {**form, "csrf_token": "x" * 43}
    assert (await browser.post("/ui/submit", data=stale)).status_code == 403
    good = {**form, "csrf_token": csrf_token(form_page.text)}
    foreign = await browser.post("/ui/submit", data=good, headers={"Origin": "https://evil.test"})
    assert foreign.status_code == 403
    assert foreign.json()["code"] == 403
    forged_login = await browser.post(
        "/ui/login", data={"api_key": ADMIN_KEY}, headers={"Origin": "https://evil.test"}
    )
    assert forged_login.status_code == 403

    # Refused by the API's own validation: the form again, saying why.
    nobody = await browser.post("/ui/submit", data=good)
    assert nobody.status_code == 400
    assert '<p class="error" role="alert">target: _any matches no live agent</p>' in nobody.text
    await stack.start_agent("console-1.test")
    sent = await browser.post("/ui/submit", data=good)
    assert sent.status_code == 303
    job_id = sent.headers["location"].removeprefix("/ui/job/")
    assert (await stack.detail(job_id))["operation"]["type"] == "test.ping"
    # The same form posted twice (a double click) is the same job.
    twice = await browser.post("/ui/submit", data=good)
    assert twice.headers["location"] == sent.headers["location"]
