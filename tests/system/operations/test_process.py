"""process.* through the whole system, for real, on a child this test started."""

from __future__ import annotations

import asyncio
import shutil
import signal
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.harness import Stack

HOST = "web-1.dev.local"


async def test_a_child_is_found_and_signalled_once(stack: Stack) -> None:
    await stack.start_agent(HOST)
    child = await asyncio.create_subprocess_exec(shutil.which("sleep") or "/bin/sleep", "600")
    try:

        async def final(name: str, data: dict[str, Any], dry_run: bool = False) -> Any:
            body = {"operation": {"type": name, "data": data}, "target": HOST, "dry_run": dry_run}
            return await stack.final((await stack.api.post("/job", json=body)).json()["job_id"])

        found = await final("process.get", {"pid": child.pid})
        assert (found["status"], found["changed"]) == ("completed", False)
        assert (found["result"]["pid"], found["result"]["name"]) == (child.pid, "sleep")

        dry = await final("process.signal", {"pid": child.pid}, dry_run=True)
        assert (dry["changed"], dry["result"]["sent"]) == (True, False)
        assert child.returncode is None

        sent = await final("process.signal", {"pid": child.pid})
        assert (sent["status"], sent["changed"], sent["result"]["sent"]) == (
            "completed",
            True,
            True,
        )
        assert await child.wait() == -signal.SIGTERM
        again = await final("process.signal", {"pid": child.pid})
        assert again["status"] == "failed"
        assert again["error"] == f"no process with pid {child.pid}"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    bad = {"operation": {"type": "process.signal", "data": {"pid": 2, "signal": "SEGV"}}}
    refused = await stack.api.post("/job", json={**bad, "target": HOST})
    assert_error(refused, 400)
    assert refused.json()["details"].startswith("operation.data.signal: Invalid enum value 'SEGV'")
