"""Secrets stay secret: a canary is absent from Redis, API output and logs,
while the agent still receives (and can use) the real value."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator

import pytest
import structlog
from redis.asyncio import Redis

from common.log import configure
from common.messages import Operation
from common.redaction import REDACTED, Redactor, secret_fields
from tests.harness import Stack

CANARY = f"canary-{uuid.uuid4().hex}"


def test_marked_fields_and_patterns_are_redacted_in_copies_only() -> None:
    redactor = Redactor()
    assert secret_fields("command.exec") == {"env", "stdin"}
    op = Operation(
        type="command.exec",
        data={"argv": ["true"], "env": {"PLAIN": "x", "OTHER": "y"}, "stdin": "pw"},
    )
    clean = redactor.operation(op)
    assert clean.data == {
        "argv": ["true"],
        "env": {"PLAIN": REDACTED, "OTHER": REDACTED},
        "stdin": REDACTED,
    }
    assert op.data["env"] == {"PLAIN": "x", "OTHER": "y"}
    echo = Operation(type="test.echo", data={"data": {"db": {"Password": "p", "port": 5}}})
    assert redactor.operation(echo).data == {"data": {"db": {"Password": REDACTED, "port": 5}}}
    custom = Redactor([r"^pin$"])
    assert custom.value({"pin": 1, "password": 2}) == {"pin": REDACTED, "password": 2}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Logs of this test as JSON lines, through the production processor chain."""
    buffer = io.StringIO()
    configure("json", "debug")
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(file=buffer), cache_logger_on_first_use=False
    )
    yield buffer
    structlog.reset_defaults()


def test_log_lines_redact_secret_fields(log_lines: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("thing_happened", api_token=CANARY, data={"nested": {"secret": CANARY}}, port=1)
    line = json.loads(log_lines.getvalue())
    assert CANARY not in log_lines.getvalue()
    assert line["api_token"] == REDACTED
    assert line["data"] == {"nested": {"secret": REDACTED}}
    assert line["port"] == 1


async def redis_dump(url: str) -> str:
    """Every key and value in the job database, as one text (reprs of the bytes)."""
    redis = Redis.from_url(url)
    parts: list[str] = []
    try:
        async for key in redis.scan_iter(count=1000):
            kind = str(await redis.type(key))
            if "string" in kind:
                value: object = await redis.get(key)
            elif "hash" in kind:
                value = await redis.hgetall(key)
            elif "zset" in kind:
                value = await redis.zrange(key, 0, -1)
            elif "list" in kind:
                value = await redis.lrange(key, 0, -1)
            elif "stream" in kind:
                value = await redis.xrange(key)
            else:
                raise AssertionError(f"unexpected key type {kind} of {key!r}")
            parts.append(f"{key!r} {value!r}")
    finally:
        await redis.aclose()
    assert parts, "nothing in Redis: the scan looked at the wrong database"
    return "\n".join(parts)


async def test_canary_is_absent_from_redis_api_and_logs(
    stack: Stack, log_lines: io.StringIO
) -> None:
    await stack.start_agent("web-1.dev.local")
    expected = hashlib.sha256(CANARY.encode()).hexdigest()
    # The agent gets the real value: the command prints its digest.
    exec_job = await stack.submit(
        "command.exec",
        {
            "argv": ["sh", "-c", 'printf %s "$DB_PASSWORD" | sha256sum'],
            "env": {"DB_PASSWORD": CANARY},
        },
        target="web-1.dev.local",
    )
    echo_job = await stack.submit(
        "test.echo", {"data": {"user": "u", "api_token": CANARY}}, target="web-1.dev.local"
    )
    detail = await stack.final(exec_job)
    assert detail["status"] == "completed", detail
    assert detail["result"]["stdout"].startswith(expected)
    assert detail["operation"]["data"]["env"] == {"DB_PASSWORD": REDACTED}
    echoed = await stack.final(echo_job)
    assert echoed["operation"]["data"]["data"] == {"user": "u", "api_token": REDACTED}
    assert echoed["result"] == {"user": "u", "api_token": REDACTED}
    # A retry still sends the real value (kept sealed, not in clear, in Redis).
    retry = await stack.api.post(f"/job/{exec_job}/retry")
    again = await stack.final(retry.json()["job_id"])
    assert again["result"]["stdout"].startswith(expected)

    outputs = [(await stack.api.get(f"/job/{job_id}")).text for job_id in (exec_job, echo_job)]
    outputs.append((await stack.api.get("/job")).text)
    assert all(CANARY not in text for text in outputs)
    assert REDACTED in outputs[0]
    assert CANARY not in await redis_dump(stack.redis_url)
    assert log_lines.getvalue(), "the controller and agent logged nothing"
    assert CANARY not in log_lines.getvalue()
