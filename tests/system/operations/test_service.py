"""service.* through the whole system: submit -> signed -> agent -> stand-in systemctl -> detail.

The agent's host is a temporary root with a stand-in systemd
(tests/standins/systemd.py) and a path holding only the stand-ins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Standins, systemd

HOST = "web-1.dev.local"
UNIT = "systemd-networkd.service"


async def final(stack: Stack, operation: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    body = {"operation": operation, "target": HOST, "dry_run": dry_run}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


async def test_a_service_starts_once_and_a_dry_run_only_looks(stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "host"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    systemd.install(standins, "show-systemd-networkd.txt")
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    start = {"type": "service.start", "data": {"name": "systemd-networkd"}}

    dry = await final(stack, start, dry_run=True)
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert dry["result"] == {"name": UNIT, "diff": {"before": "inactive", "after": "active"}}
    assert systemd.units(root)[UNIT]["ActiveState"] == "inactive"
    assert [call[0] for call in standins.calls("systemctl")] == ["show"]

    first = await final(stack, start)
    assert (first["status"], first["changed"]) == ("completed", True)
    assert first["responses"][HOST]["data"]["diff"] == {"before": "inactive", "after": "active"}
    assert systemd.units(root)[UNIT]["ActiveState"] == "active"
    second = await final(stack, start)
    assert (second["status"], second["changed"]) == ("completed", False)
    assert [call[0] for call in standins.calls("systemctl")].count("start") == 1

    bad = {"operation": {"type": "service.start", "data": {"name": "-H"}}, "target": HOST}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert "operation.data.name: must be a unit name" in refused.json()["details"]


async def test_a_host_without_systemd_or_shutdown_skips(stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "host"
    root.mkdir()
    bare = Standins.create(tmp_path, root)  # an empty path: no systemctl, no shutdown
    await stack.start_agent(HOST, host_root=str(root), host_path=bare.only)
    for operation, reason in (
        ({"type": "service.list", "data": {}}, "systemd is not running"),
        ({"type": "power.reboot", "data": {}}, "shutdown or systemctl is not installed"),
    ):
        detail = await final(stack, operation, dry_run=True)
        assert detail["agent_states"][HOST]["status"] == "skipped"
        assert reason in detail["agent_states"][HOST]["error"]
        assert detail["responses"][HOST]["status"] == "skipped"
