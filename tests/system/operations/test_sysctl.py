"""sysctl through the whole system: submit -> agent on a temp root -> detail.

The agent's tools are the stand-ins alone, so no `sysctl` of this machine
ever runs; live values are read from this kernel's /proc/sys.
"""

from __future__ import annotations

from pathlib import Path

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Answer, Standins, capture
from tests.system.operations.skips import assert_skipped

HOST = "web-1.dev.local"
BARE = "bare-1.dev.local"


def live_swappiness() -> str:
    return " ".join(Path("/proc/sys/vm/swappiness").read_text().split())


async def test_sysctl_set_is_idempotent_dry_runs_and_refuses_bad_keys(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    standins.add("sysctl", Answer(("-p",), stdout=capture("sysctl/p-applied.txt")))
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    live = live_swappiness()
    drop_in = root / "etc/sysctl.d/90-corral-vm.swappiness.conf"
    data = {"key": "vm.swappiness", "value": live}

    first = await stack.final(await stack.submit("sysctl.set", data, HOST))
    assert (first["status"], first["changed"]) == ("completed", True), first
    assert first["responses"][HOST]["data"]["diff"]["after"] == {"live": live, "drop_in": live}
    assert drop_in.read_text().endswith(f"vm.swappiness = {live}\n")
    second = await stack.final(await stack.submit("sysctl.set", data, HOST))
    assert (second["status"], second["changed"]) == ("completed", False)

    other = "0" if live != "0" else "1"
    body = {
        "operation": {"type": "sysctl.set", "data": {"key": "vm.swappiness", "value": other}},
        "target": HOST,
        "dry_run": True,
    }
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    dry = await stack.final(response.json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert dry["result"]["diff"]["after"] == {"live": other, "drop_in": other}
    assert drop_in.read_text().endswith(f"vm.swappiness = {live}\n")
    assert standins.calls("sysctl") == []  # the kernel already had it; the dry run ran nothing

    got = await stack.final(await stack.submit("sysctl.get", {"key": "vm/swappiness"}, HOST))
    assert got["result"]["drop_in"] == live

    bad = {"operation": {"type": "sysctl.get", "data": {"key": "vm/../x"}}, "target": HOST}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert "operation.data: key" in refused.json()["details"]

    empty = tmp_path / "empty"
    empty.mkdir()
    await stack.start_agent(BARE, host_root=str(root), host_path=str(empty))
    skipped = await stack.final(await stack.submit("sysctl.set", data, BARE))
    assert_skipped(skipped, BARE, "sysctl is not installed")
