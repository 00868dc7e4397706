"""The network family through the whole system: submit -> signed -> agent -> detail.

The agent's host is a temp root holding a real cloud-init netplan file, with
a recording stand-in for ``netplan`` first on its path (then this machine's
read-only ``ip``); a second agent has no tools at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Standins, capture

HOST = "web-1.dev.local"
ETH1 = {"name": "eth1", "addresses": ["192.0.2.10/24"], "gateway": "192.0.2.1", "mtu": 1500}
DROP_IN = "etc/netplan/90-corral-eth1.yaml"


def job(op: str, data: dict[str, Any], target: str, *, dry_run: bool = False) -> dict[str, Any]:
    return {"operation": {"type": op, "data": data}, "target": target, "dry_run": dry_run}


async def submit(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    return await stack.final(response.json()["job_id"])


async def test_an_interface_is_configured_once_dry_run_first_and_routes_read_live(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    (root / "etc/netplan/50-cloud-init.yaml").write_text(capture("netplan/50-cloud-init.yaml"))
    standins = Standins.create(tmp_path, root)
    standins.add("netplan")
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.path)

    dry = await submit(stack, job("network.interface.create", ETH1, HOST, dry_run=True))
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert "+      mtu: 1500\n" in dry["result"]["diff"]
    assert not (root / DROP_IN).exists()
    assert standins.calls("netplan") == []

    first = await submit(stack, job("network.interface.create", ETH1, HOST))
    assert (first["status"], first["changed"]) == ("completed", True)
    response = first["responses"][HOST]
    assert response["data"]["file"] == "/etc/netplan/90-corral-eth1.yaml"
    assert response["data"]["settings"]["gateway"] == "192.0.2.1"
    interface = yaml.safe_load((root / DROP_IN).read_text())["network"]["ethernets"]["eth1"]
    assert (interface["addresses"], interface["mtu"]) == (["192.0.2.10/24"], 1500)
    assert standins.calls("netplan") == [["apply"]]

    again = await submit(stack, job("network.interface.create", ETH1, HOST))
    assert (again["status"], again["changed"], again["result"]["diff"]) == ("completed", False, "")
    assert standins.calls("netplan") == [["apply"]]

    refused = await stack.api.post(
        "/job", json=job("network.interface.update", {"name": "eth1", "mtu": 20}, HOST)
    )
    assert_error(refused, 400)
    assert "operation.data.mtu" in refused.json()["details"]

    routes = await submit(stack, job("network.route.get", {"destination": "127.0.0.1"}, HOST))
    assert (routes["status"], routes["result"]["device"]) == ("completed", "lo")


async def test_a_host_without_netplan_or_nmcli_is_skipped(stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    bare = Standins.create(tmp_path, root)
    await stack.start_agent("db-1.dev.local", host_root=str(root), host_path=bare.only)
    detail = await submit(stack, job("network.interface.create", ETH1, "db-1.dev.local"))
    state = detail["agent_states"]["db-1.dev.local"]
    assert (state["status"], state["error"]) == (
        "skipped",
        "netplan or nmcli is not installed on this host",
    )
    assert detail["responses"]["db-1.dev.local"]["status"] == "skipped"
    assert not (root / DROP_IN).exists()
