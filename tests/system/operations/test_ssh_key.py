"""The ssh_key family through the whole system: submit -> signed job -> agent -> detail.

The agent's host root holds the Debian fixture's account files plus a user
owned by whoever runs the test, so the file's owner can be set without root.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import capture
from tests.standins.shadow_tools import account_root

HOST = "web-1.dev.local"
LINE = capture("ssh-keygen/ed25519.pub").strip()
FINGERPRINT = capture("ssh-keygen/ed25519.lf.txt").split()[1]


async def test_a_key_through_the_whole_system(stack: Stack, tmp_path: Path) -> None:
    root, standins = account_root(tmp_path / HOST)
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(f"deploy:x:{os.geteuid()}:{os.getegid()}::/home/deploy:/bin/bash\n")
    (root / "home/deploy").mkdir()
    keys = root / "home/deploy/.ssh/authorized_keys"
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    add = {"user": "deploy", "line": LINE}

    first = await stack.final(await stack.submit("ssh_key.add", add, HOST))
    assert (first["status"], first["changed"]) == ("completed", True), first
    assert first["responses"][HOST]["data"]["fingerprint"] == FINGERPRINT
    assert keys.read_text() == LINE + "\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    again = await stack.final(await stack.submit("ssh_key.add", add, HOST))
    assert (again["status"], again["changed"]) == ("completed", False), again

    listed = await stack.final(await stack.submit("ssh_key.list", {"user": "deploy"}, HOST))
    assert [k["fingerprint"] for k in listed["result"]["authorized"]] == [FINGERPRINT]

    remove = {"user": "deploy", "fingerprint": FINGERPRINT}
    body = {
        "operation": {"type": "ssh_key.remove", "data": remove},
        "target": HOST,
        "dry_run": True,
    }
    dry = await stack.final((await stack.api.post("/job", json=body)).json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True), dry
    assert f"-{LINE}\n" in dry["result"]["diff"]
    assert keys.read_text() == LINE + "\n"

    bad = {**body, "operation": {"type": "ssh_key.remove", "data": {**remove, "fingerprint": "x"}}}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert "operation.data.fingerprint" in refused.json()["details"]
