"""package.* through the whole system: submit -> signed -> agent (stand-in apt) -> detail.

Also the one test of a host lacking what all three families here need
(package, certificate, log): the agent answers ``skipped`` for each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Standins
from tests.standins.packages import STATUS, debian_with_apt

HOST = "web-1.dev.local"


def job(operation: str, data: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    return {"operation": {"type": operation, "data": data}, "target": HOST, "dry_run": dry_run}


async def final(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


async def test_an_install_through_the_system_dry_then_real_then_unchanged(
    stack: Stack, tmp_path: Path
) -> None:
    apt = debian_with_apt(tmp_path)
    await stack.start_agent(HOST, host_root=str(apt.root), host_path=apt.only)
    status = (apt.root / STATUS).read_bytes()
    install = {"names": ["hello"]}

    dry = await final(stack, job("package.install", install, dry_run=True))
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert dry["result"]["diff"] == {"before": {"hello": None}, "after": {"hello": "2.10-3"}}
    assert (apt.root / STATUS).read_bytes() == status
    assert apt.calls("apt-get") == []

    real = await final(stack, job("package.install", install))
    assert (real["status"], real["changed"]) == ("completed", True)
    assert real["responses"][HOST]["data"]["diff"]["after"] == {"hello": "2.10-3"}
    assert "Package: hello\nStatus: install ok installed" in (apt.root / STATUS).read_text()

    again = await final(stack, job("package.install", install))
    assert (again["status"], again["changed"]) == ("completed", False)
    assert len(apt.calls("apt-get")) == 1

    refused = await stack.api.post("/job", json=job("package.install", {"names": ["-y"]}))
    assert_error(refused, 400)
    assert "operation.data.names[0]" in refused.json()["details"]


async def test_a_host_without_the_tools_or_a_log_skips_with_the_reason(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    bare = Standins.create(tmp_path, root)  # an empty bin: no apt, dnf, update tools, journal
    await stack.start_agent(HOST, host_root=str(root), host_path=bare.only)
    reasons = {
        "package.list": "apt-get or dnf is not installed",
        "certificate.list": "update-ca-certificates or update-ca-trust is not installed",
        "log.query": "keeps no journal",
    }
    for operation, reason in reasons.items():
        detail = await final(stack, job(operation, {}))
        assert detail["agent_states"][HOST]["status"] == "skipped"
        assert reason in detail["agent_states"][HOST]["error"]
        assert detail["responses"][HOST]["status"] == "skipped"
