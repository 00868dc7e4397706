"""node.hostname.update through the whole system: submit -> signed -> agent -> detail.

The agent's host is a temp root with systemd "running" (/run/systemd/system)
and a recording stand-in for ``hostnamectl`` that writes /etc/hostname under
the root as hostnamed would; this machine's name is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.operations.test_node_hostname import HOSTNAMECTL_SETS
from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Answer, Standins

HOST = "web-1.dev.local"


def job(name: str, target: str, *, dry_run: bool = False) -> dict[str, Any]:
    operation = {"type": "node.hostname.update", "data": {"name": name}}
    return {"operation": operation, "target": target, "dry_run": dry_run}


async def submit(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


async def test_the_hostname_is_set_once_and_a_dry_run_changes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "etc/hostname").write_text("old-name\n")
    standins = Standins.create(tmp_path, root)
    standins.add("hostnamectl", Answer(("set-hostname",), effect=HOSTNAMECTL_SETS))
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)

    first = await submit(stack, job("web-1.example.com", HOST))
    assert (first["status"], first["changed"]) == ("completed", True)
    assert first["responses"][HOST]["data"]["diff"] == {
        "before": "old-name",
        "after": "web-1.example.com",
    }
    assert (root / "etc/hostname").read_text() == "web-1.example.com\n"
    again = await submit(stack, job("web-1.example.com", HOST))
    assert (again["status"], again["changed"]) == ("completed", False)

    dry = await submit(stack, job("web-2.example.com", HOST, dry_run=True))
    assert (dry["changed"], dry["result"]["diff"]["after"]) == (True, "web-2.example.com")
    assert (root / "etc/hostname").read_text() == "web-1.example.com\n"
    assert standins.calls("hostnamectl") == [["set-hostname", "web-1.example.com"]]

    refused = await stack.api.post("/job", json=job("-bad-", HOST))
    assert_error(refused, 400)
    assert "name: must be RFC 1123" in refused.json()["details"]


async def test_a_host_without_systemd_or_hostname_is_skipped(stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("old-name\n")
    bare = Standins.create(tmp_path, root)
    await stack.start_agent("db-1.dev.local", host_root=str(root), host_path=bare.only)
    detail = await submit(stack, job("db-1", "db-1.dev.local"))
    state = detail["agent_states"]["db-1.dev.local"]
    assert (state["status"], state["error"]) == (
        "skipped",
        "hostname is not installed on this host",
    )
    assert (root / "etc/hostname").read_text() == "old-name\n"
