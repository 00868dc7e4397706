"""cron through the whole system: submit -> agent on a temp root -> detail."""

from __future__ import annotations

from pathlib import Path

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Standins
from tests.system.operations.skips import assert_skipped

HOST = "web-1.dev.local"
BARE = "bare-1.dev.local"
JOB = {"name": "backup", "interval": "15m", "command": "/usr/local/bin/backup"}


async def test_cron_create_is_idempotent_dry_runs_and_refuses_bad_schedules(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)
    standins = Standins.create(tmp_path, root)
    standins.add("cron")
    await stack.start_agent(HOST, host_root=str(root), host_path=standins.only)
    path = root / "etc/cron.d/corral-backup"

    first = await stack.final(await stack.submit("cron.create", JOB, HOST))
    assert (first["status"], first["changed"]) == ("completed", True), first
    assert first["responses"][HOST]["data"]["job"]["schedule"] == "*/15 * * * *"
    assert path.read_text().endswith("*/15 * * * * root /usr/local/bin/backup\n")
    second = await stack.final(await stack.submit("cron.create", JOB, HOST))
    assert (second["status"], second["changed"]) == ("completed", False)

    change = {"name": "backup", "schedule": "0 3 * * sun"}
    body = {"operation": {"type": "cron.update", "data": change}, "target": HOST, "dry_run": True}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    dry = await stack.final(response.json()["job_id"])
    assert (dry["status"], dry["changed"]) == ("completed", True)
    assert "+0 3 * * sun root /usr/local/bin/backup\n" in dry["result"]["diff"]
    assert path.read_text().endswith("*/15 * * * * root /usr/local/bin/backup\n")

    listed = await stack.final(await stack.submit("cron.list", {}, HOST))
    assert [job["name"] for job in listed["result"]["jobs"]] == ["backup"]

    bad = {**JOB, "interval": None, "schedule": "61 * * * *"}
    refused = await stack.api.post(
        "/job", json={"operation": {"type": "cron.create", "data": bad}, "target": HOST}
    )
    assert_error(refused, 400)
    assert "operation.data.schedule: minute 61 is out of 0-59" in refused.json()["details"]

    empty = tmp_path / "empty"
    empty.mkdir()
    await stack.start_agent(BARE, host_root=str(root), host_path=str(empty))
    skipped = await stack.final(await stack.submit("cron.delete", {"name": "backup"}, BARE))
    assert_skipped(skipped, BARE, "cron or crond is not installed")
    assert path.exists()
