"""The mutating families run for real on this host, for a disposable VM or container.

``make host-test`` (CORRAL_HOST_TEST=1, as root): each operation runs through
the agent's executor against the real ``/`` and the real tools, twice (the
second run must say ``changed: false``), and is undone afterwards. Where the
host lacks a tool or systemd, the operation is ``skipped`` and so is its
test. Never run on a machine you care about; CI does not run it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from agent.executor import allowed_operations, run_operation
from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.catalog import BUILTIN

ALL = allowed_operations(list(BUILTIN))
NAME = "corral-host-test"


CONTEXT = OperationContext(hostname="host-test", timeout=120.0, host=Host())


async def run(op: str, data: dict[str, Any], *, dry_run: bool = False) -> Any:
    try:
        return await run_operation(op, data, replace(CONTEXT, dry_run=dry_run), ALL)
    except OperationSkipped as exc:
        pytest.skip(f"{op}: {exc.reason}")


async def twice(op: str, data: dict[str, Any]) -> Any:
    """Run ``op`` for real twice: the first changes the host, the second finds nothing to do."""
    dry = await run(op, data, dry_run=True)
    assert dry.changed, f"{op}: the dry run should see a change to make"
    first = await run(op, data)
    assert first.changed, f"{op}: the first run should change the host"
    again = await run(op, data)
    assert not again.changed, f"{op}: the second run should find nothing to do"
    return first


@pytest.fixture
async def clean_user() -> AsyncIterator[None]:
    yield
    for op in ("user.delete", "group.delete"):
        with contextlib.suppress(OperationFailed):
            await run_operation(op, {"name": NAME}, CONTEXT, ALL)


async def test_a_file_deploys_reports_its_status_and_undeploys() -> None:
    path = f"/etc/{NAME}.conf"
    await twice("file.deploy", {"path": path, "content": "hello\n", "mode": "0640"})
    assert (await run("file.status", {"path": path})).data["state"] == "deployed"
    await twice("file.undeploy", {"path": path})
    assert (await run("file.status", {"path": path})).data["state"] == "absent"


async def test_a_group_a_user_and_their_key(clean_user: None) -> None:
    await twice("group.create", {"name": NAME})
    await twice("user.create", {"name": NAME, "group": NAME, "shell": "/bin/sh"})
    key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGpw8pBq1sZCJGsvZ1c0nCM6wSZ7rQ6Rq3iYy4eC9bCx host-test"
    )
    added = await twice("ssh_key.add", {"user": NAME, "line": key})
    fingerprint = added.data["fingerprint"]
    await twice("ssh_key.remove", {"user": NAME, "fingerprint": fingerprint})
    await twice("user.delete", {"name": NAME})
    await twice("group.delete", {"name": NAME})


async def test_a_cron_job_is_created_and_deleted() -> None:
    await twice(
        "cron.create", {"name": NAME, "schedule": "17 3 * * *", "command": "true", "user": "root"}
    )
    await twice("cron.delete", {"name": NAME})


async def test_a_sysctl_drop_in_is_set_and_deleted() -> None:
    current = (await run("sysctl.get", {"key": "vm.swappiness"})).data["value"]
    other = "61" if str(current).strip() != "61" else "59"
    try:
        await twice("sysctl.set", {"key": "vm.swappiness", "value": other})
    finally:
        await run("sysctl.set", {"key": "vm.swappiness", "value": str(current).strip()})
        await run("sysctl.delete", {"key": "vm.swappiness"})


async def test_a_service_unit_is_created_started_stopped_and_deleted() -> None:
    unit = {
        "name": NAME,
        "content": "[Service]\nType=oneshot\nExecStart=/bin/true\nRemainAfterExit=yes\n",
    }
    await twice("service.unit.create", unit)
    try:
        await twice("service.start", {"name": NAME})
        await twice("service.stop", {"name": NAME})
    finally:
        await run("service.unit.delete", {"name": NAME})
