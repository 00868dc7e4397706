"""The file family and command.shell through the whole system: upload an object,
deploy it to an agent's host root, check it, drift it, remove it; the shell
refused unless allowed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from tests.harness import Stack

HOST = "web-1.dev.local"
CONTENT = b"worker_processes 4;\n"


async def job(stack: Stack, op: str, data: dict[str, Any], *, dry_run: bool = False) -> Any:
    body = {"operation": {"type": op, "data": data}, "target": HOST, "dry_run": dry_run}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


def host_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(f"deploy:x:{os.geteuid()}:{os.getegid()}::/:/bin/sh\n")
    (root / "etc/group").write_text(f"deploy:x:{os.getegid()}:\n")
    return root


async def test_an_uploaded_object_is_deployed_checked_and_removed(
    stack: Stack, tmp_path: Path
) -> None:
    root = host_root(tmp_path)
    await stack.start_agent(HOST, host_root=str(root))
    stored = await stack.api.post("/object", params={"name": "nginx.conf"}, content=CONTENT)
    sha256 = stored.json()["sha256"]
    assert sha256 == hashlib.sha256(CONTENT).hexdigest()
    deploy = {"path": "/etc/nginx/nginx.conf", "object": "nginx.conf", "sha256": sha256}
    deploy |= {"mode": "0640", "owner": "deploy"}
    target = root / "etc/nginx/nginx.conf"

    first = await job(stack, "file.deploy", deploy)
    assert (first["status"], first["changed"]) == ("completed", True)
    assert first["result"]["sha256"] == sha256
    assert first["result"]["diff"].endswith("+worker_processes 4;\n")
    assert target.read_bytes() == CONTENT
    assert target.stat().st_mode & 0o777 == 0o640
    second = await job(stack, "file.deploy", deploy)
    assert (second["status"], second["changed"], second["result"]["diff"]) == (
        "completed",
        False,
        "",
    )

    new = {"path": deploy["path"], "content": "worker_processes 8;\n"}
    dry = await job(stack, "file.deploy", new, dry_run=True)
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert "-worker_processes 4;\n+worker_processes 8;\n" in dry["result"]["diff"]
    assert target.read_bytes() == CONTENT

    wrong = await job(stack, "file.deploy", {**deploy, "sha256": "0" * 64})
    assert wrong["status"] == "failed"
    assert f"has sha256 {sha256}, not {'0' * 64}" in wrong["error"]
    bad = await stack.api.post(
        "/job",
        json={
            "operation": {"type": "file.deploy", "data": {**deploy, "mode": 640}},
            "target": HOST,
        },
    )
    assert bad.status_code == 400
    assert "operation.data.mode" in bad.json()["details"]

    async def state() -> str:
        found = await job(stack, "file.status", {"path": deploy["path"]})
        return str(found["responses"][HOST]["data"]["state"])

    assert await state() == "deployed"
    target.write_bytes(b"worker_processes 1;\n")
    assert await state() == "drifted"
    removed = await job(stack, "file.undeploy", {"path": deploy["path"]})
    assert (removed["status"], removed["changed"]) == ("completed", True)
    assert await state() == "absent"
    assert not target.exists()


async def test_the_shell_runs_only_where_the_allow_list_names_it(
    stack: Stack, tmp_path: Path
) -> None:
    await stack.start_agent(HOST)
    witness = tmp_path / "made"
    script = {"script": f"echo $((6 * 7)) > {witness} && cat {witness}"}
    refused = await job(stack, "command.shell", script)
    assert refused["status"] == "failed"
    assert "command.shell is not on this agent's allow-list" in refused["error"]
    assert not witness.exists()

    await stack.agents[HOST].shutdown()
    del stack.agents[HOST]
    await stack.start_agent(HOST, allow=("command.shell",))
    allowed = await job(stack, "command.shell", script)
    assert (allowed["status"], allowed["result"]["stdout"]) == ("completed", "42\n")
    assert witness.read_text() == "42\n"
