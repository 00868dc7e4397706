"""Hostile HTTP input against a controller process (promises 6, 8 and 9).

Bad credentials, bad ids, bad bodies, huge bodies and pages, a storm of
concurrent retries, shell metacharacters in argv, and a secret canary that
must not surface in the API, Redis or any log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.faults.cluster import READER_KEY, Cluster

HOST = "h-1.test"
PING = {"operation": {"type": "test.ping", "data": {}}, "target": HOST}


def assert_error(response: httpx.Response, code: int) -> None:
    assert response.status_code == code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "details", "code"}, body
    assert body["code"] == code, body


async def test_hostile_requests_get_the_right_error(cluster: Cluster) -> None:
    await cluster.add_controller()
    await cluster.add_agent(HOST)
    api, base = cluster.api, f"http://127.0.0.1:{cluster.api_port}"
    async with httpx.AsyncClient(base_url=base) as anonymous:
        assert_error(await anonymous.post("/job", json=PING), 401)
        wrong = {"Authorization": "Bearer not-a-key"}
        assert_error(await anonymous.get("/job", headers=wrong), 401)
        reader = {"Authorization": f"Bearer {READER_KEY}"}
        assert_error(await anonymous.post("/job", json=PING, headers=reader), 403)
    assert_error(await api.get("/job/not-a-uuid"), 400)
    assert_error(await api.get("/job/12345678-1234-1234-1234-1234567890zz"), 400)
    assert_error(await api.get(f"/job/{uuid.uuid4()}"), 404)
    assert_error(await api.post("/job", json={**PING, "timeout": "5"}), 400)
    assert_error(await api.post("/job", json={**PING, "priority": 9}), 400)
    assert_error(await api.post("/job", json={"operation": {"type": 5}}), 400)
    assert_error(await api.post("/job", content=b"{not json"), 400)
    assert_error(await api.get("/job", params={"limit": "10000000"}), 400)
    big = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_error(await api.post("/job", content=big), 413)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(160):  # 10 MB with no Content-Length: refused while streaming
            yield b"x" * 65536

    assert_error(await api.post("/job", content=chunks()), 413)


async def test_fifty_concurrent_retries_of_one_job_create_one_job(cluster: Cluster) -> None:
    await cluster.add_controller()
    await cluster.add_agent(HOST)
    job_id = await cluster.submit("test.ping", target=HOST, job_timeout=10)
    await cluster.final(job_id)
    before = (await cluster.api.get("/job")).json()["total_items"]
    headers = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    replies = await asyncio.gather(
        *(cluster.api.post(f"/job/{job_id}/retry", headers=headers) for _ in range(50))
    )
    assert {r.status_code for r in replies} <= {200, 201}, [r.text for r in replies]
    assert sum(r.status_code == 201 for r in replies) == 1
    created = {r.json()["job_id"] for r in replies}
    assert len(created) == 1
    assert (await cluster.api.get("/job")).json()["total_items"] == before + 1
    assert (await cluster.final(created.pop()))["status"] == "completed"


async def test_shell_metacharacters_in_argv_are_passed_literally(
    cluster: Cluster, tmp_path: Path
) -> None:
    await cluster.add_controller()
    await cluster.add_agent(HOST)
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}); `touch {marker}`; touch {marker} && echo | touch {marker}"
    job_id = await cluster.submit("command.exec", {"argv": ["echo", hostile]}, HOST, 10)
    detail = await cluster.final(job_id)
    assert detail["status"] == "completed"
    assert detail["result"]["stdout"] == hostile + "\n"
    assert not marker.exists()


async def redis_dump(cluster: Cluster) -> bytes:
    """Every key and value in Redis, concatenated, to search for a leak."""
    store: Any = cluster.store  # decode_responses is off: every reply is bytes
    parts: list[bytes] = []
    async for key in store.scan_iter(count=500):
        kind = (await store.type(key)).decode()
        values: Any = []
        if kind == "hash":
            values = [b"".join(pair) for pair in (await store.hgetall(key)).items()]
        elif kind == "zset":
            values = await store.zrange(key, 0, -1)
        elif kind == "string":
            values = [await store.get(key) or b""]
        elif kind == "list":
            values = await store.lrange(key, 0, -1)
        elif kind == "set":
            values = list(await store.smembers(key))
        parts += [key, *values]
    return b"".join(parts)


async def test_secret_canary_never_leaves_the_agent(cluster: Cluster) -> None:
    controller = await cluster.add_controller()
    agent = await cluster.add_agent(HOST)
    canary = f"canary-{uuid.uuid4().hex}"
    jobs = [
        await cluster.submit(
            "command.exec", {"argv": ["true"], "env": {"DB_PASSWORD": canary}}, HOST, 10
        ),
        await cluster.submit(
            "command.exec", {"argv": ["sh", "-c", "cat >/dev/null"], "stdin": canary}, HOST, 10
        ),
        await cluster.submit("test.echo", {"data": {"api_token": canary}}, HOST, 10),
    ]
    seen: list[str] = []
    for job_id in jobs:
        await cluster.final(job_id)
        seen.append((await cluster.api.get(f"/job/{job_id}")).text)
    seen.append((await cluster.api.get("/job")).text)
    leaks = {
        "api": [text for text in seen if canary in text],
        "redis": canary.encode() in await redis_dump(cluster),
        "controller log": canary in controller.log_path.read_text(),
        "agent log": canary in agent.log_path.read_text(),
    }
    assert not any(leaks.values()), leaks
