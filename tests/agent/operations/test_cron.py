"""cron.*: drop-ins in /etc/cron.d under a temp root beside Debian's own; the daemon stood in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.operations.base import OperationFailed, OperationSkipped
from common.operations.catalog import validate_params
from common.operations.cron import check_schedule, schedule_of
from common.operations.declaration import OperationError
from tests.agent.operations.declared_run import make_host, on_host, run
from tests.standins import Standins

# Debian 12's /etc/cron.d/sysstat and e2scrub_all, as the packages ship them.
SYSSTAT = """\
# The first element of the path is a directory where the debian-sa1
# script is located
PATH=/usr/lib/sysstat:/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin

# Activity reports every 10 minutes everyday
5-55/10 * * * * root command -v debian-sa1 > /dev/null && debian-sa1 1 1

# Additional run at 23:59 to rotate the statistics file
59 23 * * * root command -v debian-sa1 > /dev/null && debian-sa1 60 2
"""
E2SCRUB = """\
30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 \
/usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron
10 3 * * * root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r
"""
JOB = {
    "name": "backup",
    "interval": "15m",
    "user": "backup",
    "command": "tar czf /var/backups/etc-$(date +%F).tgz /etc",
    "env": {"MAILTO": "", "GREETING": " hi "},
}
FILE = "etc/cron.d/corral-backup"
CONTENT = """\
# Managed by corral (cron.create, cron.update); cron.delete removes it.
# interval: 15m
MAILTO=
GREETING=" hi "
*/15 * * * * backup tar czf /var/backups/etc-$(date +\\%F).tgz /etc
"""


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    standins = make_host(tmp_path)
    cron_d = standins.root / "etc/cron.d"
    cron_d.mkdir(parents=True)
    (cron_d / "sysstat").write_text(SYSSTAT)
    (cron_d / "e2scrub_all").write_text(E2SCRUB)
    (cron_d / ".placeholder").write_text("# DO NOT EDIT OR REMOVE\n")
    standins.add("cron")  # only its presence matters: the daemon reads /etc/cron.d itself
    return standins


async def test_create_writes_one_file_once(standins: Standins) -> None:
    first = await run("cron.create", JOB, on_host(standins))
    path = standins.root / FILE
    assert path.read_text() == CONTENT
    assert path.stat().st_mode & 0o777 == 0o644
    assert first.changed is True
    assert first.data["diff"].startswith("--- /dev/null\n+++ b/etc/cron.d/corral-backup\n")
    assert first.data["job"]["schedule"] == "*/15 * * * *"

    second = await run("cron.create", JOB, on_host(standins))
    assert (second.changed, second.data["diff"]) == (False, "")
    with pytest.raises(OperationFailed, match=r"exists with other content; use cron\.update"):
        await run("cron.create", {**JOB, "user": "root"}, on_host(standins))
    assert standins.calls("cron") == []


async def test_get_reads_the_job_back_as_given(standins: Standins) -> None:
    await run("cron.create", JOB, on_host(standins))
    result = await run("cron.get", {"name": "backup"}, on_host(standins))
    assert result.data == {
        "name": "backup",
        "file": "/etc/cron.d/corral-backup",
        "schedule": "*/15 * * * *",
        "interval": "15m",
        "user": "backup",
        "command": JOB["command"],
        "env": JOB["env"],
    }
    with pytest.raises(OperationFailed, match="no cron job 'other'"):
        await run("cron.get", {"name": "other"}, on_host(standins))


async def test_update_changes_what_is_given_and_keeps_the_rest(standins: Standins) -> None:
    await run("cron.create", JOB, on_host(standins))
    change = {"name": "backup", "schedule": "30  2 * * mon-fri"}
    dry = await run("cron.update", change, on_host(standins, dry_run=True))
    assert (standins.root / FILE).read_text() == CONTENT
    assert dry.changed is True
    assert "-*/15 * * * * backup" in dry.data["diff"]
    assert "+30 2 * * mon-fri backup" in dry.data["diff"]

    result = await run("cron.update", change, on_host(standins))
    assert result.data["diff"] == dry.data["diff"]
    job = result.data["job"]
    assert (job["schedule"], job["interval"], job["command"]) == (
        "30 2 * * mon-fri",
        None,
        JOB["command"],
    )
    assert "# interval" not in (standins.root / FILE).read_text()
    again = await run("cron.update", change, on_host(standins))
    assert again.changed is False
    with pytest.raises(OperationFailed, match=r"no cron job 'other' to update; use cron\.create"):
        await run("cron.update", {"name": "other", "user": "root"}, on_host(standins))


async def test_delete_removes_the_file_once(standins: Standins) -> None:
    await run("cron.create", JOB, on_host(standins))
    dry = await run("cron.delete", {"name": "backup"}, on_host(standins, dry_run=True))
    assert (dry.changed, (standins.root / FILE).exists()) == (True, True)
    result = await run("cron.delete", {"name": "backup"}, on_host(standins))
    assert not (standins.root / FILE).exists()
    assert result.data["diff"].startswith("--- a/etc/cron.d/corral-backup\n+++ /dev/null\n")
    again = await run("cron.delete", {"name": "backup"}, on_host(standins))
    assert (again.changed, again.data["diff"]) == (False, "")


async def test_list_shows_corrals_jobs_and_the_other_files_read_only(standins: Standins) -> None:
    await run("cron.create", JOB, on_host(standins))
    result = await run("cron.list", {}, on_host(standins))
    assert [job["name"] for job in result.data["jobs"]] == ["backup"]
    others = {f["file"]: f for f in result.data["other_files"]}
    assert sorted(others) == ["/etc/cron.d/e2scrub_all", "/etc/cron.d/sysstat"]
    sysstat = others["/etc/cron.d/sysstat"]
    assert sysstat["env"] == {"PATH": "/usr/lib/sysstat:/usr/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}
    assert sysstat["entries"][0] == {
        "schedule": "5-55/10 * * * *",
        "user": "root",
        "command": "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
    }
    assert len(others["/etc/cron.d/e2scrub_all"]["entries"]) == 2
    assert (standins.root / "etc/cron.d/sysstat").read_text() == SYSSTAT


async def test_a_host_without_cron_is_skipped(standins: Standins, tmp_path: Path) -> None:
    ctx = on_host(standins, dry_run=True, path=str(tmp_path / "empty"))
    with pytest.raises(OperationSkipped, match="cron or crond is not installed"):
        await run("cron.create", JOB, ctx)


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/5 0-6,22-23 1,15 jan-mar,DEC sun-sat",
        "0 0 * * 7",
        "5-55/10 * 31 2 mon",
        "@reboot",
        "@midnight",
    ],
)
def test_valid_schedules_pass(schedule: str) -> None:
    check_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("60 * * * *", "minute 60 is out of 0-59"),
        ("* 24 * * *", "hour 24 is out of 0-23"),
        ("* * 0 * *", "day of month 0 is out of 1-31"),
        ("* * * 13 *", "month 13 is out of 1-12"),
        ("* * * * 8", "day of week 8 is out of 0-7"),
        ("* * * foo *", "month 'foo' is not a number or a name"),
        ("* x * * *", "hour 'x' is not a number$"),
        ("5-1 * * * *", "minute range '5-1' runs backwards"),
        ("*/0 * * * *", "minute step '0' must be a number from 1 to 59"),
        ("5/10 * * * *", "minute step '5/10' needs a range or"),
        ("* * * *", "must have 5 fields"),
        ("@often", "unknown macro '@often'"),
    ],
)
def test_a_bad_schedule_names_the_field_at_fault(schedule: str, message: str) -> None:
    data = {"name": "x", "command": "true", "schedule": schedule}
    with pytest.raises(OperationError, match=f"^operation.data.schedule: {message}"):
        validate_params("cron.create", data)


@pytest.mark.parametrize(
    ("interval", "schedule"),
    [
        ("1m", "* * * * *"),
        ("15m", "*/15 * * * *"),
        ("1h", "0 * * * *"),
        ("6h", "0 */6 * * *"),
        ("1d", "0 0 * * *"),
    ],
)
def test_intervals_that_run_steadily_become_schedules(interval: str, schedule: str) -> None:
    assert schedule_of(interval) == schedule


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"interval": "45m"}, "interval '45m' would not run at a steady rate"),
        ({"interval": "2d"}, "interval '2d' would not run"),
        ({"interval": "15 minutes"}, "interval: must be <N>m, <N>h or 1d"),
        ({"interval": "15m", "schedule": "* * * * *"}, "schedule and interval: give one"),
        ({}, "schedule or interval: give one"),
        ({"interval": "1h", "name": "my.job"}, "name: must match"),
        ({"interval": "1h", "user": "Root Admin"}, "user: must match"),
        ({"interval": "1h", "command": "a\nb"}, "command: must be one line"),
        ({"interval": "1h", "env": {"A-B": "1"}}, "env name 'A-B' must match"),
    ],
)
def test_bad_job_parameters_name_the_field(data: dict[str, object], message: str) -> None:
    full = {"name": "x", "command": "true", **data}
    with pytest.raises(OperationError, match=f"^operation.data[.:] ?{message}"):
        validate_params("cron.create", full)
