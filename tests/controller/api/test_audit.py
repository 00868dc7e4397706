"""The audit log through the API: mutating calls and refused keys, read with filters and pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.harness import READER_KEY, Stack

pytestmark = pytest.mark.both_redis  # on a single redis-server and on a cluster

HOST = "audit-1.test"


async def audit(stack: Stack, **params: Any) -> dict[str, Any]:
    response = await stack.api.get("/audit", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_submit_is_audited_with_key_route_target_and_job(stack: Stack) -> None:
    await stack.start_agent(HOST)
    job_id = await stack.submit("test.ping", target=HOST)
    items = (await audit(stack, job_id=job_id))["items"]
    assert len(items) == 1
    entry = items[0]
    assert (entry["key"], entry["method"], entry["route"], entry["status"]) == (
        "admin",
        "POST",
        "/job",
        201,
    )
    assert entry["target"] == HOST
    assert "test-admin-key" not in str(items)  # the key's name, never the key


async def test_a_waited_submit_is_audited_as_created_and_again_if_its_wait_runs_out(
    stack: Stack,
) -> None:
    await stack.start_agent(HOST)
    ping = {"operation": {"type": "test.ping"}, "target": HOST}
    done = await stack.api.post("/job?wait=10", json=ping)
    assert done.status_code == 201
    items = (await audit(stack, job_id=done.json()["id"]))["items"]
    assert [(e["route"], e["status"], e["target"]) for e in items] == [("/job", 201, HOST)]

    sleep = {"operation": {"type": "test.sleep", "data": {"seconds": 1}}, "target": HOST}
    ran_out = await stack.api.post("/job?wait=0.2", json=sleep)
    assert ran_out.status_code == 202
    items = (await audit(stack, job_id=ran_out.json()["job_id"]))["items"]
    assert [e["status"] for e in items] == [202, 201]  # newest first


async def test_denied_requests_are_audited_too(stack: Stack) -> None:
    base = str(stack.api.base_url)
    async with httpx.AsyncClient(base_url=base) as anonymous:
        assert (await anonymous.post("/job", json={})).status_code == 401
        bad = {"Authorization": "Bearer not-a-key"}
        assert (await anonymous.get("/job", headers=bad)).status_code == 401
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {READER_KEY}"}
    ) as reader:
        refused = await reader.post("/job", json={"operation": {"type": "test.ping"}})
        assert refused.status_code == 403
        assert (await reader.get("/audit")).status_code == 403  # audit:read is its own scope
    denied = (await audit(stack, status=401))["items"]
    assert {e["details"] for e in denied} == {
        "send 'Authorization: Bearer <api key>'",
        "the API key is not valid",
    }
    forbidden = (await audit(stack, status=403, key="reader"))["items"]
    assert {(e["route"], e["details"]) for e in forbidden} == {
        ("/job", "this API key lacks the 'test:read' scope, which test.ping needs"),
        ("/audit", "this API key lacks the 'audit:read' scope"),
    }
    # Reads that were allowed are not audited.
    assert not (await audit(stack, route="/job", key="reader", status=200))["items"]


async def test_pages_follow_the_cursor_newest_first(stack: Stack) -> None:
    await stack.start_agent(HOST)
    jobs = [await stack.submit("test.ping") for _ in range(5)]
    first = await audit(stack, limit=2, route="/job")
    second = await audit(stack, limit=2, route="/job", before=first["next"])
    third = await audit(stack, limit=2, route="/job", before=second["next"])
    seen = [e["job_id"] for page in (first, second, third) for e in page["items"]]
    assert seen == list(reversed(jobs))
    assert third["next"] is None


async def test_a_bad_cursor_is_a_400(stack: Stack) -> None:
    response = await stack.api.get("/audit", params={"before": "yesterday"})
    assert response.status_code == 400
    assert response.json()["details"].startswith("before:")
