"""``/object`` on a real controller: upload, list, read and delete deploy content,
the size limit enforced while the body streams in, names and scopes checked,
every change audited."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.process import ServerProcess
from tests.harness import READER_KEY, Stack, running_stack

LIMIT = 4096
CONTENT = b"server_tokens off;\n" * 100


@pytest.fixture
async def stack(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(
        nats_server.url, redis_db_url, tmp_path, max_object_bytes=LIMIT
    ) as running:
        yield running


async def upload(stack: Stack, name: str, content: Any) -> httpx.Response:
    return await stack.api.post(
        "/object",
        params={"name": name},
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )


async def test_an_object_is_uploaded_listed_read_and_deleted(stack: Stack) -> None:
    sha256 = hashlib.sha256(CONTENT).hexdigest()
    stored = await upload(stack, "nginx.conf", CONTENT)
    assert stored.status_code == 201, stored.text
    assert stored.json() == {"name": "nginx.conf", "size": len(CONTENT), "sha256": sha256}
    assert (await upload(stack, "empty", b"")).status_code == 201

    listed = (await stack.api.get("/object")).json()["objects"]
    assert [(o["name"], o["size"]) for o in listed] == [("empty", 0), ("nginx.conf", len(CONTENT))]
    one = (await stack.api.get("/object/nginx.conf")).json()
    assert (one["sha256"], one["modified"][-1]) == (sha256, "Z")

    assert (await stack.api.delete("/object/nginx.conf")).status_code == 204
    gone = await stack.api.get("/object/nginx.conf")
    assert (gone.status_code, gone.json()["error"]) == (404, "Object not found.")
    assert (await stack.api.delete("/object/nginx.conf")).status_code == 404
    assert [o["name"] for o in (await stack.api.get("/object")).json()["objects"]] == ["empty"]

    audit = (await stack.api.get("/audit", params={"route": "/object"})).json()["items"]
    assert {(e["method"], e["status"], e["details"]) for e in audit} >= {
        ("POST", 201, f"object nginx.conf: {len(CONTENT)} bytes, sha256 {sha256}"),
    }
    deletes = await stack.api.get("/audit", params={"route": "/object/{name}"})
    assert [(e["status"], e["details"]) for e in deletes.json()["items"]] == [
        (404, "object nginx.conf"),
        (204, "object nginx.conf"),
    ]


async def test_too_large_bad_names_and_missing_scopes_are_refused(stack: Stack) -> None:
    declared = await upload(stack, "big", b"x" * (LIMIT + 1))
    assert (declared.status_code, declared.json()["code"]) == (413, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(LIMIT // 1024 + 2):
            yield b"x" * 1024

    streamed = await upload(stack, "big", chunks())
    assert streamed.status_code == 413
    assert streamed.json()["details"] == f"body exceeds the {LIMIT}-byte limit"

    for bad in ("../etc/passwd", "a b", "x" * 201, ""):
        response = await upload(stack, bad, b"x")
        assert response.status_code == 400, bad
        assert response.json()["details"].startswith("name: must match")
    assert (await stack.api.post("/object", content=b"x")).status_code == 400  # no name
    assert (await stack.api.get("/object/a%20b")).status_code == 400

    async with httpx.AsyncClient(
        base_url=str(stack.api.base_url), headers={"Authorization": f"Bearer {READER_KEY}"}
    ) as reader:
        refused = await reader.post("/object", params={"name": "a"}, content=b"x")
        assert refused.status_code == 403
        assert refused.json()["details"] == "this API key lacks the 'file:write' scope"
        assert (await reader.get("/object")).status_code == 403
    assert (await stack.api.get("/object")).json() == {"objects": []}
    audit = (await stack.api.get("/audit", params={"route": "/object"})).json()["items"]
    assert {e["status"] for e in audit} == {400, 403, 413}
