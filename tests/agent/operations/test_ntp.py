"""ntp.*: chrony (Debian, RHEL) and systemd-timesyncd under a temp root, their tools stood in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.operations.base import OperationSkipped
from agent.operations.ntp import parse_tracking
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.declared_run import make_host, on_host, run
from tests.standins import Answer, Standins, capture

# Debian 12's /etc/chrony/chrony.conf, as the package ships it (comments trimmed).
DEBIAN_CHRONY = """\
# Include configuration files found in /etc/chrony/conf.d.
confdir /etc/chrony/conf.d

# Use Debian vendor zone.
pool 2.debian.pool.ntp.org iburst

# Use time sources from DHCP.
sourcedir /run/chrony-dhcp

# Use NTP sources found in /etc/chrony/sources.d.
sourcedir /etc/chrony/sources.d

keyfile /etc/chrony/chrony.keys
driftfile /var/lib/chrony/chrony.drift
ntsdumpdir /var/lib/chrony
logdir /var/log/chrony
maxupdateskew 100.0
rtcsync
makestep 1 3
leapsectz right/UTC
"""
# RHEL 9's /etc/chrony.conf: no sources.d.
RHEL_CHRONY = """\
# Use public servers from the pool.ntp.org project.
pool 2.rhel.pool.ntp.org iburst

# Use NTP servers from DHCP.
sourcedir /run/chrony-dhcp

driftfile /var/lib/chrony/drift
makestep 1.0 3
rtcsync
keyfile /etc/chrony.keys
ntsdumpdir /var/lib/chrony
leapsectz right/UTC
logdir /var/log/chrony
"""
# Debian 12's /etc/systemd/timesyncd.conf (license header trimmed).
TIMESYNCD = """\
#  This file is part of systemd.
[Time]
#NTP=
#FallbackNTP=0.debian.pool.ntp.org 1.debian.pool.ntp.org 2.debian.pool.ntp.org 3.debian.pool.ntp.org
#RootDistanceMaxSec=5
#PollIntervalMinSec=32
#PollIntervalMaxSec=2048
"""
SERVERS = ["ntp1.example.net", "192.0.2.10"]


def write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


@pytest.fixture
def debian(tmp_path: Path) -> Standins:
    standins = make_host(tmp_path)
    write(standins.root, "etc/chrony/chrony.conf", DEBIAN_CHRONY)
    (standins.root / "etc/chrony/sources.d").mkdir()
    write(standins.root, "run/chrony-dhcp/eth0.sources", "server 10.0.0.1 iburst\n")
    standins.add(
        "chronyc",
        Answer(("-c", "tracking"), stdout=capture("chronyc/tracking-csv.txt")),
        Answer(("reload", "sources"), stdout="200 OK\n"),
    )
    return standins


async def test_chrony_servers_and_sync_state(debian: Standins) -> None:
    result = await run("ntp.get", {}, on_host(debian))
    assert result.data["implementation"] == "chrony"
    assert result.data["config_file"] == "/etc/chrony/chrony.conf"
    assert result.data["servers"] == [
        {"server": "2.debian.pool.ntp.org", "kind": "pool", "file": "/etc/chrony/chrony.conf"},
        {"server": "10.0.0.1", "kind": "server", "file": "/run/chrony-dhcp/eth0.sources"},
    ]
    assert result.data["corral_servers"] == []
    assert result.data["sync"] == {
        "synchronized": True,
        "server": "192.168.1.10",
        "stratum": 3,
        "offset": 0.000012345,
        "leap": "Normal",
        "tool": "chronyc",
    }
    assert debian.calls("chronyc") == [["-c", "tracking"]]


def test_an_unsynchronised_chrony_says_so() -> None:
    sync = parse_tracking(capture("chronyc/tracking-csv-unsynchronised.txt"))
    assert (sync["synchronized"], sync["server"], sync["leap"]) == (
        False,
        None,
        "Not synchronised",
    )


async def test_a_chronyd_that_does_not_answer_leaves_the_sync_state_open(
    debian: Standins,
) -> None:
    debian.add("chronyc", otherwise=Answer(stderr=capture("chronyc/cannot-talk.txt"), exit_code=1))
    result = await run("ntp.get", {}, on_host(debian))
    assert result.data["sync"] == {
        "synchronized": None,
        "tool": "chronyc",
        "error": "506 Cannot talk to daemon",
    }


async def test_chrony_set_writes_a_sources_drop_in_and_reloads_once(debian: Standins) -> None:
    first = await run("ntp.set", {"servers": SERVERS}, on_host(debian))
    drop_in = debian.root / "etc/chrony/sources.d/corral.sources"
    assert drop_in.read_text().endswith(
        "server ntp1.example.net iburst\nserver 192.0.2.10 iburst\n"
    )
    assert first.changed is True
    assert first.data["reloaded"] == ["chronyc", "reload", "sources"]
    assert "+server ntp1.example.net iburst\n" in first.data["diff"]
    assert (debian.root / "etc/chrony/chrony.conf").read_text() == DEBIAN_CHRONY

    second = await run("ntp.set", {"servers": SERVERS}, on_host(debian))
    assert (second.changed, second.data["diff"], second.data["reloaded"]) == (False, "", None)
    assert debian.calls("chronyc") == [["reload", "sources"]]
    shown = await run("ntp.get", {}, on_host(debian))
    assert shown.data["corral_servers"] == SERVERS


async def test_a_dry_run_set_shows_the_diff_and_touches_nothing(debian: Standins) -> None:
    result = await run("ntp.set", {"servers": SERVERS}, on_host(debian, dry_run=True))
    assert result.changed is True
    assert result.data["diff"].startswith(
        "--- /dev/null\n+++ b/etc/chrony/sources.d/corral.sources\n"
    )
    assert list((debian.root / "etc/chrony/sources.d").iterdir()) == []
    assert debian.calls("chronyc") == []


async def test_an_empty_list_removes_the_drop_in(debian: Standins) -> None:
    await run("ntp.set", {"servers": SERVERS}, on_host(debian))
    result = await run("ntp.set", {"servers": []}, on_host(debian))
    assert result.changed is True
    assert not (debian.root / "etc/chrony/sources.d/corral.sources").exists()
    assert "-server 192.0.2.10 iburst\n" in result.data["diff"]


async def test_rhel_chrony_gets_a_sourcedir_once_and_a_restart(tmp_path: Path) -> None:
    standins = make_host(tmp_path)
    write(standins.root, "etc/chrony.conf", RHEL_CHRONY)
    standins.add("chronyc")
    standins.add("systemctl")
    with pytest.raises(OperationSkipped, match="systemd is not running"):
        await run("ntp.set", {"servers": SERVERS}, on_host(standins))
    (standins.root / "run/systemd/system").mkdir(parents=True)

    result = await run("ntp.set", {"servers": SERVERS}, on_host(standins))
    config = (standins.root / "etc/chrony.conf").read_text()
    assert config.startswith(RHEL_CHRONY)
    assert config.endswith("\nsourcedir /etc/chrony/sources.d\n")
    assert result.data["reloaded"] == ["systemctl", "restart", "chronyd"]
    assert standins.calls("systemctl") == [["restart", "chronyd"]]
    again = await run("ntp.set", {"servers": [*SERVERS, "ntp3.example.net"]}, on_host(standins))
    assert (standins.root / "etc/chrony.conf").read_text() == config  # added once
    assert again.data["reloaded"] == ["chronyc", "reload", "sources"]


@pytest.fixture
def timesyncd(tmp_path: Path) -> Standins:
    standins = make_host(tmp_path)
    write(standins.root, "etc/systemd/timesyncd.conf", TIMESYNCD)
    write(
        standins.root,
        "usr/lib/systemd/timesyncd.conf.d/50-vendor.conf",
        "[Time]\nNTP=vendor.example\n",
    )
    (standins.root / "run/systemd/system").mkdir(parents=True)
    standins.add("systemctl")
    standins.add(
        "timedatectl",
        Answer(("show-timesync",), stdout=capture("timedatectl/show-timesync.txt")),
        Answer(("show",), stdout=capture("timedatectl/show.txt")),
    )
    return standins


async def test_timesyncd_set_replaces_the_servers_and_restarts_it(timesyncd: Standins) -> None:
    before = await run("ntp.get", {}, on_host(timesyncd))
    assert before.data["implementation"] == "timesyncd"
    assert [s["server"] for s in before.data["servers"]] == ["vendor.example"]
    assert before.data["sync"] == {
        "synchronized": True,
        "server": "ntp1.example.net",
        "stratum": 2,
        "tool": "timedatectl",
    }

    result = await run("ntp.set", {"servers": SERVERS}, on_host(timesyncd))
    drop_in = timesyncd.root / "etc/systemd/timesyncd.conf.d/corral.conf"
    assert drop_in.read_text().endswith("[Time]\nNTP=\nNTP=ntp1.example.net 192.0.2.10\n")
    assert timesyncd.calls("systemctl") == [["restart", "systemd-timesyncd"]]
    assert result.changed is True

    after = await run("ntp.get", {}, on_host(timesyncd))
    assert [s["server"] for s in after.data["servers"]] == SERVERS  # the vendor's is reset
    assert after.data["corral_servers"] == SERVERS
    again = await run("ntp.set", {"servers": SERVERS}, on_host(timesyncd))
    assert again.changed is False
    assert len(timesyncd.calls("systemctl")) == 1


async def test_a_host_without_either_client_is_skipped(tmp_path: Path) -> None:
    standins = make_host(tmp_path)
    got = await run("ntp.get", {}, on_host(standins))
    assert (got.data["implementation"], got.data["servers"], got.data["sync"]) == (None, [], None)
    with pytest.raises(OperationSkipped, match="neither chrony nor systemd-timesyncd"):
        await run("ntp.set", {"servers": SERVERS}, on_host(standins, dry_run=True))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"servers": ["ntp.example.net; rm"]}, r"operation.data.servers\[0\]: must be a host"),
        ({"servers": ["a.example", "a.example"]}, "operation.data.servers: must not name"),
        ({"servers": "a.example"}, "operation.data.servers: Expected `array`"),
        ({}, "operation.data: Object missing required field `servers`"),
    ],
)
def test_bad_parameters_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params("ntp.set", data)
