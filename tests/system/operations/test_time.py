"""ntp and timezone through the whole system: submit -> agent on a temp root -> detail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Answer, Standins, capture
from tests.system.operations.skips import assert_skipped

HOST = "web-1.dev.local"
BARE = "bare-1.dev.local"
ZONEINFO = Path("/usr/share/zoneinfo")


@pytest.mark.skipif(not (ZONEINFO / "Europe/Paris").is_file(), reason="this machine has no tzdata")
async def test_ntp_and_timezone_set_are_idempotent_and_dry_run(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    for name in ("Etc/UTC", "Europe/Paris"):
        (root / "usr/share/zoneinfo" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ZONEINFO / name, root / "usr/share/zoneinfo" / name)
    (root / "etc/chrony/sources.d").mkdir(parents=True)
    (root / "etc/chrony/chrony.conf").write_text(
        "pool 2.debian.pool.ntp.org iburst\nsourcedir /etc/chrony/sources.d\n"
    )
    (root / "etc/localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    standins = Standins.create(tmp_path, root)
    standins.add(
        "chronyc",
        Answer(("-c", "tracking"), stdout=capture("chronyc/tracking-csv.txt")),
        Answer(("reload", "sources"), stdout="200 OK\n"),
    )
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)

    zone = {"timezone": "Europe/Paris"}
    body = {"operation": {"type": "timezone.set", "data": zone}, "target": HOST, "dry_run": True}
    dry = await stack.final((await stack.api.post("/job", json=body)).json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True), dry
    assert dry["result"]["diff"] == {"before": "Etc/UTC", "after": "Europe/Paris"}
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Etc/UTC"
    first = await stack.final(await stack.submit("timezone.set", zone, HOST))
    assert (first["status"], first["changed"]) == ("completed", True)
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Paris"
    second = await stack.final(await stack.submit("timezone.set", zone, HOST))
    assert (second["status"], second["changed"]) == ("completed", False)

    servers = {"servers": ["ntp1.example.net"]}
    first = await stack.final(await stack.submit("ntp.set", servers, HOST))
    assert (first["status"], first["changed"]) == ("completed", True), first
    assert first["responses"][HOST]["data"]["reloaded"] == ["chronyc", "reload", "sources"]
    second = await stack.final(await stack.submit("ntp.set", servers, HOST))
    assert (second["status"], second["changed"]) == ("completed", False)
    got = await stack.final(await stack.submit("ntp.get", {}, HOST))
    assert got["result"]["corral_servers"] == ["ntp1.example.net"]
    assert got["result"]["sync"]["synchronized"] is True

    bad = {"operation": {"type": "timezone.set", "data": {"timezone": "../x"}}, "target": HOST}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert "operation.data.timezone: must be an IANA zone name" in refused.json()["details"]

    bare_root = tmp_path / "bare"
    bare_root.mkdir()
    await stack.start_agent(BARE, host_root=str(bare_root), host_path=standins.only)
    skipped = await stack.final(await stack.submit("ntp.set", servers, BARE))
    assert_skipped(skipped, BARE, "neither chrony nor systemd-timesyncd is installed")
