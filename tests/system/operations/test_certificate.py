"""certificate.* through the whole system: submit -> agent -> a trust store under a root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Answer, Standins, capture

HOST = "web-1.dev.local"
PEM = capture("openssl/example-root.pem")


def job(operation: str, data: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    return {"operation": {"type": operation, "data": data}, "target": HOST, "dry_run": dry_run}


async def final(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


async def test_adding_a_ca_through_the_system_dry_then_real_then_unchanged(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    added = capture("update-ca-certificates/added.txt")
    standins.add("update-ca-certificates", otherwise=Answer(stdout=added))
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    stored = root / "usr/local/share/ca-certificates/corp.crt"
    add = {"name": "corp", "content": PEM}

    dry = await final(stack, job("certificate.add", add, dry_run=True))
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert "+-----BEGIN CERTIFICATE-----" in dry["result"]["diff"]
    assert not stored.exists()

    real = await final(stack, job("certificate.add", add))
    assert (real["status"], real["changed"]) == ("completed", True)
    assert real["responses"][HOST]["data"]["updated"] is True
    assert stored.read_text() == PEM

    again = await final(stack, job("certificate.add", add))
    assert (again["status"], again["changed"], again["result"]["diff"]) == ("completed", False, "")
    assert standins.calls("update-ca-certificates") == [[]]

    bad = await stack.api.post(
        "/job", json=job("certificate.add", {"name": "../x", "content": PEM})
    )
    assert_error(bad, 400)
    assert "operation.data.name" in bad.json()["details"]
