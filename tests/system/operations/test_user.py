"""The user family through the whole system: submit -> signed job -> agent -> stand-ins -> detail.

The agent's host root holds the Debian fixture's account files and its host
path only the shadow-utils stand-ins, whose effects edit those files as the
real tools would. The password is a canary that must reach chpasswd and
nothing else: not the detail, the timeline, the job list, Redis or the logs.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

from common.redaction import REDACTED
from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins.shadow_tools import account_root
from tests.system.test_redaction import log_lines, redis_dump

HOST = "web-1.dev.local"
CANARY = f"canary-{uuid.uuid4().hex}"
__all__ = ["log_lines"]  # a fixture: pytest finds it here by name


def passwd_line(root: Path, name: str) -> str | None:
    rows = (root / "etc/passwd").read_text().splitlines()
    return next((row for row in rows if row.startswith(f"{name}:")), None)


async def test_a_user_and_their_password_through_the_whole_system(
    stack: Stack, tmp_path: Path, log_lines: io.StringIO
) -> None:
    root, standins = account_root(tmp_path / HOST)
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    create = {"name": "deploy", "groups": ["sudo"], "shell": "/bin/bash"}

    first = await stack.final(await stack.submit("user.create", create, HOST))
    assert (first["status"], first["changed"]) == ("completed", True), first
    assert first["responses"][HOST]["data"]["user"]["groups"] == ["sudo"]
    assert passwd_line(root, "deploy") == "deploy:x:1001:1001::/home/deploy:/bin/bash"
    again = await stack.final(await stack.submit("user.create", create, HOST))
    assert (again["status"], again["changed"]) == ("completed", False), again

    before = (root / "etc/passwd").read_bytes()
    body = {
        "operation": {"type": "user.update", "data": {"name": "deploy", "shell": "/bin/sh"}},
        "target": HOST,
        "dry_run": True,
    }
    response = await stack.api.post("/job", json=body)
    dry = await stack.final(response.json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True), dry
    assert dry["result"]["diff"] == {
        "before": {"shell": "/bin/bash"},
        "after": {"shell": "/bin/sh"},
    }
    assert (root / "etc/passwd").read_bytes() == before
    assert standins.calls("usermod") == []

    bad = {"operation": {"type": "user.create", "data": {"name": "Deploy"}}, "target": HOST}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert "operation.data.name" in refused.json()["details"]

    secret = {"name": "deploy", "password": CANARY}
    job_id = await stack.submit("user.password.set", secret, HOST)
    done = await stack.final(job_id)
    assert (done["status"], done["changed"]) == ("completed", True), done
    assert done["operation"]["data"]["password"] == REDACTED
    assert standins.records("chpasswd") == [{"args": [], "stdin": f"deploy:{CANARY}\n"}]
    same = await stack.final(await stack.submit("user.password.set", secret, HOST))
    assert (same["changed"], same["result"]["current"]) == (False, "matches")

    shown = [(await stack.api.get(f"/job/{job_id}")).text, (await stack.api.get("/job")).text]
    assert all(CANARY not in text for text in shown)
    assert json.loads(shown[0])["timeline"], "no timeline to look in"
    assert CANARY not in await redis_dump(stack.redis_url)
    assert log_lines.getvalue(), "the controller and agent logged nothing"
    assert CANARY not in log_lines.getvalue()


async def test_a_host_without_useradd_is_skipped(stack: Stack, tmp_path: Path) -> None:
    root, _ = account_root(tmp_path / HOST)
    bare = tmp_path / "bare-path"
    bare.mkdir()
    await stack.start_agent(HOST, host_root=str(root), host_path=str(bare))
    detail = await stack.final(await stack.submit("user.create", {"name": "deploy"}, HOST))
    assert detail["agent_states"][HOST]["status"] == "skipped", detail
    assert "useradd is not installed" in detail["agent_states"][HOST]["error"]
    assert detail["responses"][HOST]["status"] == "skipped"
    assert passwd_line(root, "deploy") is None
