"""Tests for controller/api/auth.py: which scopes a key's list grants, and the 403s.

The rules are pure (``grants``); the routes are checked against the real
app with keys of several shapes (tests/harness.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.config import ApiKey, admin_key, hash_key
from common.operations.catalog import BUILTIN
from controller.api.auth import JOB_WRITE_GRANTS, grants
from devstack.process import ServerProcess
from tests.controller.api.test_app import assert_error
from tests.harness import ADMIN_KEY, Stack, running_stack

# What a job:write key could run before operations had scopes: it still can.
BEFORE_SCOPES = (
    *("test.ping", "test.echo", "test.sleep", "test.fail", "test.counter"),
    *("node.hostname.get", "node.status.get", "node.uptime.get", "node.load.get"),
    *("node.memory.get", "node.disk.get", "node.os.get", "command.exec"),
)


def held(*scopes: str) -> frozenset[str]:
    return frozenset(scopes)


@pytest.mark.parametrize("name", BEFORE_SCOPES)
def test_job_write_still_runs_every_operation_it_ran_before(name: str) -> None:
    assert grants(held("job:write"), BUILTIN[name].scope)


def test_job_write_grants_no_other_family() -> None:
    assert not grants(held("job:write"), "service:write")
    assert not grants(held("job:write"), "node:write")  # no node mutation existed
    assert {BUILTIN[name].scope for name in BEFORE_SCOPES} == JOB_WRITE_GRANTS


def test_the_api_scopes_grant_what_they_did_and_no_more() -> None:
    assert grants(held("job:read"), "job:read")
    assert not grants(held("job:write"), "job:read")
    assert not grants(held("job:read"), "test:read")
    assert not grants(held("agent:write"), "agent:read")


def test_a_family_write_scope_grants_its_read_scope_only() -> None:
    assert grants(held("node:write"), "node:read")
    assert not grants(held("node:read"), "node:write")
    assert not grants(held("node:write"), "service:read")


def test_admin_grants_everything() -> None:
    for scope in ("job:read", "agent:write", "service:write", "anything:read"):
        assert grants(held("admin"), scope)


NODE_READER = "test-node-reader-key"
OLD_WRITER = "test-old-writer-key"
READER = "test-job-reader-key"


def key(name: str, secret: str, *scopes: str) -> ApiKey:
    return ApiKey(name=name, sha256=hash_key(secret), scopes=frozenset(scopes))


@pytest.fixture
async def scoped(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    keys = (
        admin_key(ADMIN_KEY),
        key("node-reader", NODE_READER, "node:read"),
        key("old-writer", OLD_WRITER, "job:write"),
        key("reader", READER, "job:read"),
    )
    async with running_stack(nats_server.url, redis_db_url, tmp_path, api_keys=keys) as stack:
        await stack.start_agent("web-1.dev.local", allow=("node.*", "test.*", "command.exec"))
        yield stack


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def job(op: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"operation": {"type": op, "data": data or {}}, "target": "web-1.dev.local"}


async def test_a_submit_needs_its_operations_scope_and_the_403_names_it(scoped: Stack) -> None:
    api, node_reader = scoped.api, as_key(NODE_READER)
    allowed = await api.post("/job", json=job("node.os.get"), headers=node_reader)
    assert allowed.status_code == 201, allowed.text
    done = await scoped.final(allowed.json()["job_id"])
    assert done["status"] == "completed"
    refused = await api.post(
        "/job", json=job("command.exec", {"argv": ["true"]}), headers=node_reader
    )
    assert_error(refused, 403, "Insufficient permissions")
    assert refused.json()["details"] == (
        "this API key lacks the 'command:write' scope, which command.exec needs"
    )
    # Its scope allows no listing: job:read is its own scope.
    assert_error(await api.get("/job", headers=node_reader), 403)
    assert_error(await api.get("/operation", headers=node_reader), 403)


async def test_a_job_write_key_keeps_running_what_it_ran(scoped: Stack) -> None:
    old = as_key(OLD_WRITER)
    for body in (job("test.ping"), job("node.status.get"), job("command.exec", {"argv": ["true"]})):
        response = await scoped.api.post("/job", json=body, headers=old)
        assert response.status_code == 201, response.text


async def test_a_read_only_key_cannot_submit(scoped: Stack) -> None:
    refused = await scoped.api.post("/job", json=job("test.ping"), headers=as_key(READER))
    assert_error(refused, 403)
    assert "'test:read'" in refused.json()["details"]


async def test_a_batch_names_the_item_whose_scope_is_missing(scoped: Stack) -> None:
    body = {"jobs": [job("node.os.get"), job("node.load.get"), job("test.ping")]}
    refused = await scoped.api.post("/job/batch", json=body, headers=as_key(NODE_READER))
    assert_error(refused, 403)
    assert refused.json()["details"] == (
        "jobs[2]: this API key lacks the 'test:read' scope, which test.ping needs"
    )
    listing = (await scoped.api.get("/job")).json()
    assert listing["total_items"] == 0  # nothing of the batch was created


async def test_a_retry_needs_the_operations_scope_too(scoped: Stack) -> None:
    # The example plugin's operation (installed for the tests): job:write does not grant it.
    original = await scoped.submit("example.greeting.get", {"name": "x"}, "web-1.dev.local")
    await scoped.final(original)
    refused = await scoped.api.post(f"/job/{original}/retry", headers=as_key(OLD_WRITER))
    assert_error(refused, 403)
    assert "'example:read' scope, which example.greeting.get needs" in refused.json()["details"]
    old = await scoped.submit("test.ping", target="web-1.dev.local")
    again = await scoped.api.post(f"/job/{old}/retry", headers=as_key(OLD_WRITER))
    assert again.status_code == 201, again.text
