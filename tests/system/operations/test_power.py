"""power.* through the whole system, against a stand-in shutdown on a path holding nothing else.

Never the real tool: it would take the machine down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Answer, Standins, capture

HOST = "web-1.dev.local"


async def test_a_reboot_is_scheduled_by_the_stand_in_and_a_dry_run_runs_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "host"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    standins.add("shutdown", otherwise=Answer(stderr=capture("shutdown/reboot-scheduled.txt")))
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    data: dict[str, Any] = {"delay": 240, "message": "kernel 6.1"}
    reboot = {"type": "power.reboot", "data": data}
    argv = ["shutdown", "-r", "--", "+4", "kernel 6.1"]

    body = {"operation": reboot, "target": HOST, "dry_run": True}
    dry = await stack.final((await stack.api.post("/job", json=body)).json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert dry["result"]["argv"] == argv
    assert dry["result"]["diff"] == {"before": "running", "after": "reboot in 4 min"}
    assert standins.calls("shutdown") == []

    real = await stack.final(await stack.submit("power.reboot", data, HOST))
    assert (real["status"], real["changed"]) == ("completed", True)
    assert real["result"]["output"].startswith("Reboot scheduled for ")
    assert standins.calls("shutdown") == [argv[1:]]

    bad = {"operation": {"type": "power.reboot", "data": {"delay": -5}}, "target": HOST}
    refused = await stack.api.post("/job", json={**bad, "dry_run": True})
    assert_error(refused, 400)
    assert refused.json()["details"].startswith("operation.data.delay: Expected `int` >= 0")
