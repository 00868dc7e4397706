"""The HTTP API's contract: bodies, errors, listing, retry, delete."""

from __future__ import annotations

import uuid

import httpx
import nats
import pytest

from common import subjects
from devstack.until import until
from tests.harness import READER_KEY, Stack

ERROR_FIELDS = {"error", "details", "code"}


def assert_error(response: httpx.Response, code: int, title: str | None = None) -> None:
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["code"] == code
    if title is not None:
        assert body["error"] == title


async def test_auth_errors_are_401_and_403_json(stack: Stack) -> None:
    job = f"/job/{uuid.uuid4()}"
    anonymous = await stack.api.get(job, headers={"Authorization": ""})
    assert_error(anonymous, 401, "API key required")
    wrong = await stack.api.get(job, headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "API key required")
    reader = {"Authorization": f"Bearer {READER_KEY}"}
    forbidden = await stack.api.post(
        "/job", json={"operation": {"type": "test.ping"}}, headers=reader
    )
    assert_error(forbidden, 403, "Insufficient permissions")
    assert "'test:read' scope, which test.ping needs" in forbidden.json()["details"]
    assert_error(await stack.api.get(job, headers=reader), 404)


async def test_malformed_uuid_is_400_and_unknown_job_is_404(stack: Stack) -> None:
    assert_error(await stack.api.get("/job/not-a-uuid"), 400)
    assert_error(await stack.api.get(f"/job/{uuid.uuid4()}"), 404, "Job not found.")
    assert_error(await stack.api.delete(f"/job/{uuid.uuid4()}"), 404)
    assert_error(await stack.api.get("/no/such/route"), 404)


async def test_a_wrong_method_is_405_json_with_allow(stack: Stack) -> None:
    response = await stack.api.put("/job")
    assert_error(response, 405)
    assert "POST" in response.headers["allow"]


async def test_a_non_ascii_digit_in_a_query_is_400_not_500(stack: Stack) -> None:
    assert_error(await stack.api.get("/job", params={"limit": "\u00b2"}), 400)


async def test_bad_submissions_are_400_naming_the_field(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    cases = [
        ({"operation": {"type": "no.such"}}, "no.such"),
        ({"operation": {"type": "test.sleep", "data": {"seconds": "x"}}}, "seconds"),
        ({"operation": {"type": "test.ping"}, "target": "bad target"}, "target"),
        ({"operation": {"type": "test.ping"}, "target": "nobody.example"}, "nobody.example"),
        ({"operation": {"type": "test.ping"}, "target": "group:nothing"}, "group:nothing"),
        ({"operation": {"type": "test.ping"}, "timeout": 0}, "timeout"),
        ({"operation": {"type": "test.ping"}, "extra": 1}, "extra"),
    ]
    for body, fragment in cases:
        response = await stack.api.post("/job", json=body)
        assert_error(response, 400)
        assert fragment in response.json()["details"], (body, response.json())
    raw = await stack.api.post(
        "/job", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(raw, 400)


async def test_oversized_body_is_413(stack: Stack) -> None:
    big = b'{"operation": {"type": "test.echo", "data": {"data": "' + b"x" * 2_000_000 + b'"}}}'
    assert_error(await stack.api.post("/job", content=big), 413)


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_list_filters_by_status_and_counts_every_status(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    ok = [await stack.submit("test.ping", target="web-1.dev.local") for _ in range(3)]
    bad = await stack.submit("test.fail", target="web-1.dev.local")
    for job_id in [*ok, bad]:
        await stack.final(job_id)
    listing = (await stack.api.get("/job")).json()
    assert listing["total_items"] == 4
    assert listing["status_counts"]["completed"] == 3
    assert listing["status_counts"]["failed"] == 1
    assert listing["status_counts"]["processing"] == 0
    assert [item["id"] for item in listing["items"]] == [bad, *reversed(ok)]
    failed = (await stack.api.get("/job", params={"status": "failed"})).json()
    assert [item["id"] for item in failed["items"]] == [bad]
    assert failed["total_items"] == 1
    page = (await stack.api.get("/job", params={"limit": 2, "offset": 1})).json()
    assert [item["id"] for item in page["items"]] == [ok[2], ok[1]]
    assert_error(await stack.api.get("/job", params={"limit": 0}), 400)
    assert_error(await stack.api.get("/job", params={"limit": 10_000_000}), 400)
    assert_error(await stack.api.get("/job", params={"status": "weird"}), 400)


async def test_processing_jobs_are_listed_newest_first(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    older = await stack.submit("test.sleep", {"seconds": 60}, "web-1.dev.local", job_timeout=90)
    newer = await stack.submit("test.sleep", {"seconds": 60}, "web-1.dev.local", job_timeout=90)

    async def both_processing() -> bool:
        listing = (await stack.api.get("/job", params={"status": "processing"})).json()
        return [item["id"] for item in listing["items"]] == [newer, older]

    await until(both_processing, "both sleeps listed as processing, newest first")
    for job_id in (older, newer):  # end the sleeps now rather than at teardown
        assert (await stack.api.post(f"/job/{job_id}/cancel")).status_code == 202


async def test_retry_keeps_the_original_target_unless_overridden(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    await stack.start_agent("db-1.dev.local", {"group": "db.dev"})
    original = await stack.submit("test.fail", target="group:db")
    await stack.final(original)
    response = await stack.api.post(f"/job/{original}/retry")
    assert response.status_code == 201
    again = await stack.final(response.json()["job_id"])
    assert set(again["agent_states"]) == {"db-1.dev.local"}
    assert again["operation"]["type"] == "test.fail"
    moved = await stack.api.post(f"/job/{original}/retry", json={"target": "web-1.dev.local"})
    elsewhere = await stack.final(moved.json()["job_id"])
    assert elsewhere["hostname"] == "web-1.dev.local"
    assert_error(await stack.api.post(f"/job/{uuid.uuid4()}/retry"), 404)
    # A zero timeout is an error, not a silent fallback to the original's.
    assert_error(await stack.api.post(f"/job/{original}/retry", json={"timeout": 0}), 400)


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_delete_removes_the_job_and_its_listing(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    job_id = await stack.submit("test.ping", target="web-1.dev.local")
    await stack.final(job_id)
    assert (await stack.api.delete(f"/job/{job_id}")).status_code == 204
    assert_error(await stack.api.get(f"/job/{job_id}"), 404)
    assert (await stack.api.get("/job")).json()["total_items"] == 0


@pytest.mark.both_redis  # on a single redis-server and on a cluster
async def test_agents_are_listed_with_state_labels_and_facts(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    listing = (await stack.api.get("/agent")).json()
    (agent,) = listing["items"]
    assert agent["hostname"] == "web-1.dev.local"
    assert agent["state"] == "online"
    assert agent["labels"] == {"group": "web.dev"}
    assert agent["facts"]["cpu_count"] >= 1
    assert "test.ping" in agent["facts"]["operations"]
    await stack.agents.pop("web-1.dev.local").shutdown()
    gone = (await stack.api.get("/agent/web-1.dev.local")).json()
    assert gone["state"] == "offline"
    assert_error(await stack.api.get("/agent/nobody"), 404)


async def test_health_needs_no_key(stack: Stack) -> None:
    plain = {"Authorization": ""}
    assert (await stack.api.get("/health", headers=plain)).json() == {"status": "ok"}
    ready = await stack.api.get("/health/ready", headers=plain)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"nats": "ok", "redis": "ok"}


async def test_malformed_and_forged_events_are_dropped_and_folding_goes_on(
    stack: Stack,
) -> None:
    await stack.start_agent("web-1.dev.local", {"group": "web.dev"})
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        await js.publish(subjects.events_of("web-1.dev.local"), b"\xc1 not msgpack")
        await js.publish(subjects.events_of("web-1.dev.local"), b"")
    finally:
        await nc.close()
    detail = await stack.final(await stack.submit("test.ping", target="web-1.dev.local"))
    assert detail["status"] == "completed"
