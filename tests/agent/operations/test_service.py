"""Tests for agent/operations/service.py and systemctl.py, against a stand-in systemctl.

The stand-in answers with real-format output (tests/standins/captures/systemctl/)
and, for the state changes, keeps its units' state under the temporary host
root (tests/standins/systemd.py), so a second run sees what the first did.
The host's path holds the stand-ins alone: the real systemctl is never run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations import systemctl
from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.registry import BUILTIN_HANDLERS
from common.operations import service
from common.operations.catalog import BUILTIN, validate_params
from common.operations.declaration import OperationError
from tests.standins import Answer, Standins, capture, systemd

UNIT_FILE = "[Unit]\nDescription=My app\n\n[Service]\nExecStart=/usr/bin/myapp\n\n[Install]\n"
UNIT_FILE += "WantedBy=multi-user.target\n"
MYAPP = "/etc/systemd/system/myapp.service"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    made = tmp_path / "root"
    made.mkdir()
    return made


@pytest.fixture
def standins(tmp_path: Path, root: Path) -> Standins:
    return Standins.create(tmp_path, root)


@pytest.fixture
def booted(standins: Standins) -> Standins:
    """A running systemd knowing an active and an inactive unit."""
    systemd.install(standins, "show-avahi-daemon.txt", "show-systemd-networkd.txt")
    return standins


async def run(
    standins: Standins, name: str, data: dict[str, Any], *, dry_run: bool = False
) -> tuple[bool, Any]:
    """Run the handler; its data converted, strictly, to the declared result type."""
    ctx = OperationContext(
        hostname="h", timeout=10, host=Host(standins.root, standins.only), dry_run=dry_run
    )
    result = await BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    msgspec.convert(result.data, BUILTIN[name].result, strict=True)
    return result.changed, result.data


def verbs(standins: Standins) -> list[str]:
    return [call[0] for call in standins.calls("systemctl")]


# -- reads -------------------------------------------------------------------


def listing_standin(standins: Standins, *, json: bool) -> None:
    (standins.root / "run/systemd/system").mkdir(parents=True)
    if json:
        units = Answer(("list-units",), stdout=capture("systemctl/list-units.json"))
        files = Answer(("list-unit-files",), stdout=capture("systemctl/list-unit-files.json"))
        standins.add("systemctl", units, files)
        return
    # An older systemctl takes --output=json for the journal and prints its table.
    table = "  UNIT LOAD ACTIVE SUB DESCRIPTION\n" + capture("systemctl/list-units-plain.txt")
    standins.add(
        "systemctl",
        Answer(("list-units", "--type=service", "--no-pager", "--all", "--output=json"), table),
        Answer(("list-units",), stdout=capture("systemctl/list-units-plain.txt")),
        Answer(("list-unit-files", "--type=service", "--no-pager", "--output=json"), "x"),
        Answer(("list-unit-files",), stdout=capture("systemctl/list-unit-files-plain.txt")),
    )


async def test_list_merges_loaded_units_with_the_unit_files(standins: Standins) -> None:
    listing_standin(standins, json=True)
    changed, data = await run(standins, "service.list", {})
    assert changed is False
    found = {s["name"]: s for s in data["services"]}
    assert list(found) == sorted(found)
    assert found["avahi-daemon.service"] == {
        "name": "avahi-daemon.service",
        "description": "Avahi mDNS/DNS-SD Stack",
        "load_state": "loaded",
        "active_state": "active",
        "sub_state": "running",
        "unit_file_state": "enabled",
    }
    assert found["getty@tty1.service"]["unit_file_state"] == "enabled"  # its template's
    assert found["plymouth-start.service"]["load_state"] == "not-found"
    assert found["plymouth-start.service"]["unit_file_state"] is None
    # A unit file systemd has not loaded, and no templates.
    assert found["systemd-networkd.service"]["load_state"] is None
    assert found["systemd-networkd.service"]["unit_file_state"] == "disabled"
    assert not [name for name in found if "@." in name]
    assert [call[:2] for call in standins.calls("systemctl")] == [
        ["list-units", "--type=service"],
        ["list-unit-files", "--type=service"],
    ]


async def test_an_older_systemctls_plain_tables_give_the_same_list(
    standins: Standins, tmp_path: Path
) -> None:
    listing_standin(standins, json=False)
    _, plain = await run(standins, "service.list", {})
    other = Standins.create(tmp_path / "json", standins.root)
    other.add(
        "systemctl",
        Answer(("list-units",), stdout=capture("systemctl/list-units.json")),
        Answer(("list-unit-files",), stdout=capture("systemctl/list-unit-files.json")),
    )
    _, parsed = await run(other, "service.list", {})
    assert plain == parsed
    assert len(standins.calls("systemctl")) == 4  # each asked as JSON, then plain


async def test_list_filters_by_glob_and_active_state(standins: Standins) -> None:
    listing_standin(standins, json=True)
    _, data = await run(standins, "service.list", {"pattern": "systemd-*", "state": "active"})
    assert [s["name"] for s in data["services"]] == [
        "systemd-journald.service",
        "systemd-logind.service",
        "systemd-timesyncd.service",
    ]


def test_plain_rows_lose_the_failed_marker() -> None:
    rows = systemctl.parse_units_plain("● upower.service loaded failed failed Daemon for power\n")
    assert rows == [
        systemctl.Listed(
            "upower.service",
            {
                "load": "loaded",
                "active": "failed",
                "sub": "failed",
                "description": "Daemon for power",
            },
        )
    ]


async def test_get_reads_the_units_properties(booted: Standins) -> None:
    _, data = await run(booted, "service.get", {"name": "avahi-daemon"})
    assert data == {
        "name": "avahi-daemon.service",
        "description": "Avahi mDNS/DNS-SD Stack",
        "load_state": "loaded",
        "active_state": "active",
        "sub_state": "running",
        "unit_file_state": "enabled",
        "unit_file_preset": "enabled",
        "main_pid": 612,
        "fragment_path": "/lib/systemd/system/avahi-daemon.service",
        "drop_in_paths": [],
        "result": "success",
        "restarts": 0,
        "active_since": "Tue 2024-05-14 09:12:31 UTC",
        "memory": 1990656,
    }
    properties = ",".join(systemctl.PROPERTIES)
    assert booted.calls("systemctl") == [
        ["show", "--no-pager", f"--property={properties}", "--", "avahi-daemon.service"]
    ]


async def test_get_of_a_stopped_unit_has_no_pid_nor_memory(booted: Standins) -> None:
    _, data = await run(booted, "service.get", {"name": "systemd-networkd.service"})
    assert (data["main_pid"], data["memory"], data["active_since"]) == (None, None, None)
    assert data["drop_in_paths"] == ["/usr/lib/systemd/system/service.d/10-timeout-abort.conf"]


async def test_an_unknown_unit_fails_by_name(booted: Standins) -> None:
    with pytest.raises(OperationFailed, match=r"nginx\.service: no such unit"):
        await run(booted, "service.get", {"name": "nginx"})
    with pytest.raises(OperationFailed, match="no such unit"):
        await run(booted, "service.start", {"name": "nginx"})
    assert verbs(booted) == ["show", "show"]


# -- state changes -----------------------------------------------------------


async def test_start_changes_a_stopped_unit_once(booted: Standins) -> None:
    first = await run(booted, "service.start", {"name": "systemd-networkd"})
    unit = "systemd-networkd.service"
    assert first == (True, {"name": unit, "diff": {"before": "inactive", "after": "active"}})
    second = await run(booted, "service.start", {"name": "systemd-networkd"})
    assert second == (False, {"name": unit, "diff": {"before": "active", "after": "active"}})
    assert verbs(booted) == ["show", "start", "show", "show"]
    assert booted.calls("systemctl")[1] == [
        "start", "--no-ask-password", "--no-pager", "--", unit
    ]  # fmt: skip


async def test_stop_changes_a_running_unit_once(booted: Standins) -> None:
    assert (await run(booted, "service.stop", {"name": "avahi-daemon"}))[0] is True
    changed, data = await run(booted, "service.stop", {"name": "avahi-daemon"})
    assert changed is False
    assert data["diff"] == {"before": "inactive", "after": "inactive"}
    systemd.set_unit(booted.root, "avahi-daemon.service", ActiveState="failed")
    assert (await run(booted, "service.stop", {"name": "avahi-daemon"}))[0] is False
    assert verbs(booted).count("stop") == 1


async def test_restart_and_reload_always_act(booted: Standins) -> None:
    for name in ("service.restart", "service.restart", "service.reload"):
        changed, data = await run(booted, name, {"name": "avahi-daemon"})
        assert (changed, data["diff"]) == (True, {"before": "active", "after": "active"})
    assert (verbs(booted).count("restart"), verbs(booted).count("reload")) == (2, 1)


async def test_reload_needs_a_running_unit_that_can_reload(booted: Standins) -> None:
    with pytest.raises(OperationFailed, match="is inactive: only a running unit reloads"):
        await run(booted, "service.reload", {"name": "systemd-networkd"})
    await run(booted, "service.start", {"name": "systemd-networkd"})
    with pytest.raises(OperationFailed, match=r"cannot reload \(CanReload=no\)"):
        await run(booted, "service.reload", {"name": "systemd-networkd"})
    assert "reload" not in verbs(booted)


async def test_a_start_that_fails_fails_with_systemctls_reason(standins: Standins) -> None:
    systemd.install(standins, "show-systemd-networkd.txt")
    said = "Job for systemd-networkd.service failed because the control process exited.\n"
    standins.add(
        "systemctl",
        Answer(("show",), effect="tests.standins.systemd:show"),
        Answer(("start",), stderr=said, exit_code=1),
    )
    with pytest.raises(OperationFailed, match="systemctl start exited with 1: Job for"):
        await run(standins, "service.start", {"name": "systemd-networkd"})


async def test_enable_and_disable_compare_the_unit_file_state(booted: Standins) -> None:
    unit = {"name": "systemd-networkd"}
    assert (await run(booted, "service.enable", unit))[1]["diff"] == {
        "before": "disabled",
        "after": "enabled",
    }
    assert (await run(booted, "service.enable", unit))[0] is False
    assert (await run(booted, "service.disable", unit))[0] is True
    assert (await run(booted, "service.disable", unit))[0] is False
    assert [v for v in verbs(booted) if v != "show"] == ["enable", "disable"]


async def test_a_static_or_masked_unit_cannot_be_enabled(booted: Standins) -> None:
    for state in ("static", "masked"):
        systemd.set_unit(booted.root, "systemd-networkd.service", UnitFileState=state)
        with pytest.raises(OperationFailed, match=f"its unit file state is {state}"):
            await run(booted, "service.enable", {"name": "systemd-networkd"})
        assert (await run(booted, "service.disable", {"name": "systemd-networkd"}))[0] is False
    assert set(verbs(booted)) == {"show"}


@pytest.mark.parametrize(
    ("name", "unit", "diff"),
    [
        ("service.start", "systemd-networkd", {"before": "inactive", "after": "active"}),
        ("service.stop", "avahi-daemon", {"before": "active", "after": "inactive"}),
        ("service.restart", "systemd-networkd", {"before": "inactive", "after": "active"}),
        ("service.enable", "systemd-networkd", {"before": "disabled", "after": "enabled"}),
        ("service.disable", "avahi-daemon", {"before": "enabled", "after": "disabled"}),
    ],
)
async def test_a_dry_run_predicts_the_change_and_only_reads(
    booted: Standins, name: str, unit: str, diff: dict[str, str]
) -> None:
    before = systemd.units(booted.root)
    changed, data = await run(booted, name, {"name": unit}, dry_run=True)
    assert (changed, data["diff"]) == (True, diff)
    assert set(verbs(booted)) == {"show"}
    assert systemd.units(booted.root) == before


# -- unit files --------------------------------------------------------------


async def test_create_writes_the_unit_file_and_reloads_once(booted: Standins) -> None:
    data = {"name": "myapp", "content": UNIT_FILE}
    changed, result = await run(booted, "service.unit.create", data)
    written = booted.root / MYAPP.lstrip("/")
    assert changed is True
    assert written.read_text() == UNIT_FILE
    assert written.stat().st_mode & 0o777 == 0o644
    assert result["path"] == MYAPP
    assert result["diff"].startswith(f"--- /dev/null\n+++ b{MYAPP}\n@@ -0,0 +1,8 @@\n+[Unit]\n")
    assert verbs(booted) == ["daemon-reload"]
    again = await run(booted, "service.unit.create", data)
    assert again == (False, {"name": "myapp.service", "path": MYAPP, "diff": ""})
    assert verbs(booted) == ["daemon-reload", "show"]  # asked whether systemd is behind
    _, shown = await run(booted, "service.get", {"name": "myapp"})
    assert (shown["description"], shown["unit_file_state"]) == ("My app", "disabled")


async def test_create_refuses_to_replace_other_content(booted: Standins) -> None:
    (booted.root / "etc/systemd/system").mkdir(parents=True)
    (booted.root / MYAPP.lstrip("/")).write_text("[Service]\nExecStart=/bin/other\n")
    with pytest.raises(OperationFailed, match=r"exists with other content; service\.unit\.update"):
        await run(booted, "service.unit.create", {"name": "myapp", "content": UNIT_FILE})
    assert verbs(booted) == []


async def test_update_replaces_only_an_existing_file_keeping_its_mode(booted: Standins) -> None:
    data = {"name": "myapp.service", "content": UNIT_FILE}
    with pytest.raises(OperationFailed, match=r"does not exist; service\.unit\.create"):
        await run(booted, "service.unit.update", data)
    await run(booted, "service.unit.create", data)
    written = booted.root / MYAPP.lstrip("/")
    written.chmod(0o640)
    systemd.daemon_reload([], booted.root, None)  # systemd has read the file as it is
    newer = UNIT_FILE.replace("/usr/bin/myapp", "/usr/bin/myapp --verbose")
    changed, result = await run(booted, "service.unit.update", {**data, "content": newer})
    assert changed is True
    assert "-ExecStart=/usr/bin/myapp\n+ExecStart=/usr/bin/myapp --verbose\n" in result["diff"]
    assert written.read_text() == newer
    assert written.stat().st_mode & 0o777 == 0o640
    assert verbs(booted) == ["daemon-reload", "daemon-reload"]


async def test_an_unchanged_file_systemd_has_not_read_is_reloaded(booted: Standins) -> None:
    """An earlier write whose daemon-reload failed: the retry converges."""
    await run(booted, "service.unit.create", {"name": "myapp", "content": UNIT_FILE})
    newer = UNIT_FILE.replace("My app", "My app, newer")
    (booted.root / MYAPP.lstrip("/")).write_text(newer)  # written, never reloaded
    changed, result = await run(booted, "service.unit.update", {"name": "myapp", "content": newer})
    assert (changed, result["diff"]) == (True, "")
    assert verbs(booted) == ["daemon-reload", "show", "daemon-reload"]
    assert (await run(booted, "service.unit.update", {"name": "myapp", "content": newer}))[
        0
    ] is False


async def test_a_dry_run_create_writes_nothing_and_shows_the_diff(booted: Standins) -> None:
    changed, result = await run(
        booted, "service.unit.create", {"name": "myapp", "content": UNIT_FILE}, dry_run=True
    )
    assert changed is True
    assert "+ExecStart=/usr/bin/myapp\n" in result["diff"]
    assert not (booted.root / "etc").exists()
    assert verbs(booted) == []


async def test_a_masked_unit_is_not_overwritten(booted: Standins) -> None:
    (booted.root / "etc/systemd/system").mkdir(parents=True)
    os.symlink("/dev/null", booted.root / MYAPP.lstrip("/"))
    with pytest.raises(OperationFailed, match="is masked"):
        await run(booted, "service.unit.update", {"name": "myapp", "content": UNIT_FILE})


async def test_delete_stops_and_disables_first_then_forgets_the_unit(booted: Standins) -> None:
    (booted.root / "etc/systemd/system").mkdir(parents=True)
    (booted.root / MYAPP.lstrip("/")).write_text(UNIT_FILE)
    systemd.daemon_reload([], booted.root, None)
    systemd.set_unit(booted.root, "myapp.service", UnitFileState="enabled", **systemd.RUNNING)
    before = systemd.units(booted.root)
    dry = await run(booted, "service.unit.delete", {"name": "myapp"}, dry_run=True)
    assert dry[0] is True
    assert (dry[1]["stopped"], dry[1]["disabled"]) == (True, True)
    assert systemd.units(booted.root) == before
    assert (booted.root / MYAPP.lstrip("/")).exists()
    mark = len(verbs(booted))
    changed, result = await run(booted, "service.unit.delete", {"name": "myapp"})
    assert changed is True
    assert result["diff"].startswith(f"--- a{MYAPP}\n+++ /dev/null\n")
    assert verbs(booted)[mark:] == ["show", "stop", "disable", "daemon-reload"]
    assert not (booted.root / MYAPP.lstrip("/")).exists()
    with pytest.raises(OperationFailed, match="no such unit"):
        await run(booted, "service.get", {"name": "myapp"})
    again = await run(booted, "service.unit.delete", {"name": "myapp"})
    assert again[0] is False
    assert again[1] == {
        "name": "myapp.service",
        "path": MYAPP,
        "diff": "",
        "stopped": False,
        "disabled": False,
    }


# -- hosts without systemd, and bad input ------------------------------------


def every_example() -> list[tuple[str, dict[str, Any]]]:
    return [(d.name, dict(d.example)) for d in service.FAMILY.declarations]


@pytest.mark.parametrize(("name", "data"), every_example())
@pytest.mark.parametrize("dry_run", [False, True])
async def test_without_a_running_systemd_everything_is_skipped(
    standins: Standins, name: str, data: dict[str, Any], dry_run: bool
) -> None:
    systemd.install(standins, "show-avahi-daemon.txt")
    (standins.root / "run/systemd/system").rmdir()
    with pytest.raises(OperationSkipped, match=r"systemd is not running on this host"):
        await run(standins, name, data, dry_run=dry_run)
    assert standins.calls("systemctl") == []
    assert not (standins.root / "etc").exists()


async def test_without_systemctl_it_is_skipped(root: Path, tmp_path: Path) -> None:
    (root / "run/systemd/system").mkdir(parents=True)
    empty = Standins.create(tmp_path / "none", root)
    with pytest.raises(OperationSkipped, match="systemctl is not installed"):
        await run(empty, "service.list", {})


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("service.start", {"name": "-H"}, "operation.data.name: must be a unit name like nginx"),
        ("service.start", {"name": "nginx.socket"}, "name: must name a service unit"),
        ("service.get", {"name": "a b"}, "name: must be a unit name"),
        ("service.get", {"name": ".hidden"}, "('.' and '-' not first)"),
        ("service.get", {"name": "x" * 250}, "at most 255 characters"),
        ("service.unit.create", {"name": "getty@tty1", "content": UNIT_FILE}, "a template"),
        ("service.unit.create", {"name": "a", "content": "[Unit]\n"}, "a [Service] section"),
        ("service.unit.update", {"name": "a", "content": ""}, "operation.data.content"),
        ("service.unit.delete", {"name": "../../etc/passwd"}, "name: must be a unit name"),
        ("service.list", {"state": "running"}, "operation.data.state: Invalid enum value"),
        ("service.stop", {"unit": "nginx"}, "operation.data: Object contains unknown field"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    name: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(OperationError, match=re.escape(message)):
        validate_params(name, data)


def test_names_take_the_suffix_once_and_templates_keep_their_at() -> None:
    assert service.service_unit("nginx") == service.service_unit("nginx.service")
    assert validate_params("service.start", {"name": "getty@tty1"}) is not None
    assert validate_params("service.start", {"name": "odd.timer.service"}) is not None
    assert validate_params("service.unit.create", {"name": "getty@", "content": UNIT_FILE})
