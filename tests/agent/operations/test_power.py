"""Tests for agent/operations/power.py, against stand-ins only.

The host's path holds nothing but the stand-ins (``Standins.only``): a
missing stand-in must never fall through to the machine's own shutdown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.registry import BUILTIN_HANDLERS
from common.operations.catalog import BUILTIN, validate_params
from common.operations.declaration import OperationError
from tests.standins import Answer, Standins, capture

SCHEDULED = capture("shutdown/reboot-scheduled.txt")


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    root.mkdir()
    return Standins.create(tmp_path, root)


async def run(
    standins: Standins, name: str, data: dict[str, Any], *, dry_run: bool = False
) -> tuple[bool, Any]:
    ctx = OperationContext(
        hostname="h", timeout=10, host=Host(standins.root, standins.only), dry_run=dry_run
    )
    result = await BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    msgspec.convert(result.data, BUILTIN[name].result, strict=True)
    return result.changed, result.data


async def test_reboot_schedules_shutdown_in_minutes_with_the_message(standins: Standins) -> None:
    standins.add("shutdown", otherwise=Answer(stderr=SCHEDULED))
    changed, data = await run(standins, "power.reboot", {"delay": 300, "message": "kernel 6.1"})
    assert changed is True
    assert data == {
        "action": "reboot",
        "minutes": 5,
        "argv": ["shutdown", "-r", "--", "+5", "kernel 6.1"],
        "output": SCHEDULED.strip(),
        "diff": {"before": "running", "after": "reboot in 5 min"},
    }
    assert standins.calls("shutdown") == [["-r", "--", "+5", "kernel 6.1"]]


@pytest.mark.parametrize(
    ("data", "when"),
    [({}, "+1"), ({"delay": 0}, "now"), ({"delay": 1}, "+1"), ({"delay": 61}, "+2")],
)
async def test_shutdown_powers_off_with_the_delay_rounded_up(
    standins: Standins, data: dict[str, Any], when: str
) -> None:
    standins.add("shutdown")
    _, result = await run(standins, "power.shutdown", data)
    assert result["argv"] == ["shutdown", "-P", "--", when]
    assert standins.calls("shutdown") == [["-P", "--", when]]


async def test_a_message_that_looks_like_an_option_stays_a_message(standins: Standins) -> None:
    standins.add("shutdown")
    await run(standins, "power.reboot", {"delay": 0, "message": "-c"})
    assert standins.calls("shutdown") == [["-r", "--", "now", "-c"]]


async def test_a_dry_run_says_what_it_would_run_and_runs_nothing(standins: Standins) -> None:
    standins.add("shutdown")
    changed, data = await run(standins, "power.reboot", {"message": "m"}, dry_run=True)
    assert changed is True
    assert data["argv"] == ["shutdown", "-r", "--", "+1", "m"]
    assert data["output"] == ""
    assert data["diff"] == {"before": "running", "after": "reboot in 1 min"}
    assert standins.calls("shutdown") == []


async def test_without_shutdown_an_immediate_one_goes_through_systemctl(
    standins: Standins,
) -> None:
    standins.add("systemctl")
    (standins.root / "run/systemd/system").mkdir(parents=True)
    _, data = await run(standins, "power.shutdown", {"delay": 0, "message": "bye"})
    assert data["argv"] == ["systemctl", "poweroff", "--no-ask-password", "--message=bye"]
    assert standins.calls("systemctl") == [["poweroff", "--no-ask-password", "--message=bye"]]
    with pytest.raises(OperationSkipped, match="a delayed one needs it"):
        await run(standins, "power.shutdown", {"delay": 60})
    assert len(standins.calls("systemctl")) == 1


@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_host_without_either_tool_is_skipped(standins: Standins, dry_run: bool) -> None:
    with pytest.raises(OperationSkipped, match="shutdown or systemctl is not installed"):
        await run(standins, "power.reboot", {}, dry_run=dry_run)


async def test_systemctl_without_a_running_systemd_is_skipped(standins: Standins) -> None:
    standins.add("systemctl")
    with pytest.raises(OperationSkipped, match="systemd is not running"):
        await run(standins, "power.reboot", {"delay": 0})
    assert standins.calls("systemctl") == []


async def test_systemds_shutdown_without_a_running_systemd_is_skipped(
    standins: Standins,
) -> None:
    standins.add("systemctl")
    (standins.bin / "shutdown").symlink_to("systemctl")  # as systemd installs it
    with pytest.raises(OperationSkipped, match="systemd is not running"):
        await run(standins, "power.reboot", {"delay": 0})
    (standins.root / "run/systemd/system").mkdir(parents=True)
    _, data = await run(standins, "power.reboot", {"delay": 0})
    assert data["argv"] == ["shutdown", "-r", "--", "now"]
    assert standins.calls("systemctl") == [["-r", "--", "now"]]  # the stand-in's log


async def test_a_refusing_shutdown_fails_with_its_reason(standins: Standins) -> None:
    standins.add(
        "shutdown", otherwise=Answer(stderr="Failed to reboot: Access denied\n", exit_code=1)
    )
    with pytest.raises(OperationFailed, match="shutdown -r exited with 1: Failed to reboot"):
        await run(standins, "power.reboot", {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"delay": -1}, "operation.data.delay: Expected `int` >= 0"),
        ({"delay": 8 * 24 * 3600}, "operation.data.delay: Expected `int` <= 604800"),
        ({"delay": 1.5}, "operation.data.delay: Expected `int`"),
        ({"message": "a\0b"}, "operation.data: message contains a NUL character"),
        ({"message": "x" * 1025}, "operation.data.message: Expected `str` of length <= 1024"),
        ({"when": "now"}, "operation.data: Object contains unknown field `when`"),
    ],
)
def test_bad_input_is_refused_naming_the_field(data: dict[str, Any], message: str) -> None:
    for name in ("power.reboot", "power.shutdown"):
        with pytest.raises(OperationError, match=re.escape(message)):
            validate_params(name, data)
