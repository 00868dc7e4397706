"""timezone.*: real zoneinfo files copied under a temp root, `timedatectl` stood in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from agent.operations.base import OperationFailed, OperationSkipped
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.declared_run import make_host, on_host, run
from tests.standins import Answer, Standins, capture

ZONEINFO = Path("/usr/share/zoneinfo")
ZONES = ("Etc/UTC", "Europe/Paris")

pytestmark = pytest.mark.skipif(
    not all((ZONEINFO / zone).is_file() for zone in ZONES), reason="this machine has no tzdata"
)


def relink(args: list[str], root: Path, stdin: str | None) -> None:
    """The stand-in's effect for `timedatectl set-timezone ZONE`: what timedated does."""
    link = root / "etc/localtime"
    link.unlink(missing_ok=True)
    link.symlink_to(f"../usr/share/zoneinfo/{args[-1]}")


@pytest.fixture
def debian(tmp_path: Path) -> Standins:
    """Debian's layout: /etc/localtime links into zoneinfo, /etc/timezone names the zone."""
    standins = make_host(tmp_path)
    root = standins.root
    for zone in ZONES:
        (root / "usr/share/zoneinfo" / zone).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ZONEINFO / zone, root / "usr/share/zoneinfo" / zone)
    (root / "etc").mkdir()
    (root / "etc/localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    (root / "etc/timezone").write_text("Etc/UTC\n")
    standins.add(
        "timedatectl",
        Answer(("show",), stdout=capture("timedatectl/show.txt")),
        Answer(("set-timezone",), effect=f"{__name__}:relink"),
    )
    return standins


def with_systemd(standins: Standins) -> Standins:
    (standins.root / "run/systemd/system").mkdir(parents=True)
    return standins


async def test_get_reads_the_link_and_etc_timezone(debian: Standins) -> None:
    result = await run("timezone.get", {}, on_host(debian))
    assert result.data == {
        "timezone": "Etc/UTC",
        "localtime": "/usr/share/zoneinfo/Etc/UTC",
        "etc_timezone": "Etc/UTC",
        "timedatectl": None,  # systemd is not running there
    }
    assert debian.calls("timedatectl") == []


async def test_get_adds_what_timedatectl_shows_when_systemd_runs(debian: Standins) -> None:
    result = await run("timezone.get", {}, on_host(with_systemd(debian)))
    assert result.data["timedatectl"] == {
        "timezone": "Europe/Berlin",
        "local_rtc": False,
        "ntp": True,
        "ntp_synchronized": True,
        "time": "Thu 2024-05-09 14:03:11 CEST",
    }


async def test_without_systemd_set_relinks_localtime_and_rewrites_etc_timezone(
    debian: Standins,
) -> None:
    dry = await run("timezone.set", {"timezone": "Europe/Paris"}, on_host(debian, dry_run=True))
    assert dry.changed is True
    assert dry.data["diff"] == {"before": "Etc/UTC", "after": "Europe/Paris"}
    assert os.readlink(debian.root / "etc/localtime") == "/usr/share/zoneinfo/Etc/UTC"

    result = await run("timezone.set", {"timezone": "Europe/Paris"}, on_host(debian))
    assert result.data == {
        "timezone": "Europe/Paris",
        "via": "files",
        "diff": {"before": "Etc/UTC", "after": "Europe/Paris"},
    }
    assert os.readlink(debian.root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Paris"
    assert (debian.root / "etc/timezone").read_text() == "Europe/Paris\n"
    assert sorted(p.name for p in (debian.root / "etc").iterdir()) == ["localtime", "timezone"]

    again = await run("timezone.set", {"timezone": "Europe/Paris"}, on_host(debian))
    assert again.changed is False
    assert again.data["diff"] == {"before": "Europe/Paris", "after": "Europe/Paris"}


async def test_with_systemd_set_goes_through_timedatectl_once(debian: Standins) -> None:
    ctx = on_host(with_systemd(debian))
    result = await run("timezone.set", {"timezone": "Europe/Paris"}, ctx)
    assert (result.changed, result.data["via"]) == (True, "timedatectl")
    assert debian.calls("timedatectl") == [["set-timezone", "Europe/Paris"]]
    assert os.readlink(debian.root / "etc/localtime") == "../usr/share/zoneinfo/Europe/Paris"
    assert (debian.root / "etc/timezone").read_text() == "Europe/Paris\n"
    again = await run("timezone.set", {"timezone": "Europe/Paris"}, ctx)
    assert again.changed is False
    assert len(debian.calls("timedatectl")) == 1


async def test_a_host_without_etc_timezone_does_not_get_one(debian: Standins) -> None:
    (debian.root / "etc/timezone").unlink()
    await run("timezone.set", {"timezone": "Europe/Paris"}, on_host(debian))
    assert not (debian.root / "etc/timezone").exists()


async def test_a_zone_the_host_lacks_fails_and_no_tzdata_is_skipped(debian: Standins) -> None:
    for zone in ("Mars/Olympus_Mons", "Europe"):
        with pytest.raises(OperationFailed, match=f"timezone {zone} is not in /usr/share/zoneinfo"):
            await run("timezone.set", {"timezone": zone}, on_host(debian))
    shutil.rmtree(debian.root / "usr/share/zoneinfo")
    with pytest.raises(OperationSkipped, match="tzdata is not installed"):
        await run("timezone.set", {"timezone": "Europe/Paris"}, on_host(debian, dry_run=True))


async def test_with_systemd_but_no_timedatectl_set_is_skipped(
    debian: Standins, tmp_path: Path
) -> None:
    ctx = on_host(with_systemd(debian), path=str(tmp_path / "empty"))
    with pytest.raises(OperationSkipped, match="timedatectl is not installed"):
        await run("timezone.set", {"timezone": "Europe/Paris"}, ctx)


@pytest.mark.parametrize("zone", ["../../etc/passwd", "/Europe/Paris", "Europe Paris", ""])
def test_bad_zone_names_name_the_field(zone: str) -> None:
    with pytest.raises(
        OperationError, match=r"operation\.data\.timezone: must be an IANA zone name"
    ):
        validate_params("timezone.set", {"timezone": zone})
