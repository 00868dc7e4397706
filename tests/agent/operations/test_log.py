"""The ``log.*`` handlers: a stand-in journalctl, real syslog files under a temporary root,
and the machine's own journalctl where it has one (reading the journal is harmless).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.log import journald_available
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationError
from tests.standins import Answer, Standins, capture


async def run(op_type: str, data: dict[str, Any], ctx: OperationContext) -> Any:
    result = await HANDLERS[op_type](validate_params(op_type, data), ctx)
    assert result.changed is False
    msgspec.convert(result.data, OPERATIONS[op_type].result, strict=True)  # as declared
    return result.data


def context(standins: Standins) -> OperationContext:
    return OperationContext(hostname="h", timeout=10, host=Host(standins.root, standins.only))


@pytest.fixture
def journald(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    (root / "var/log/journal").mkdir(parents=True)
    standins = Standins.create(tmp_path, root)
    standins.add(
        "journalctl",
        Answer(
            ("--no-pager", "--quiet", "--field=_SYSTEMD_UNIT"),
            stdout=capture("journalctl/field-systemd-unit.txt"),
        ),
        otherwise=Answer(stdout=capture("journalctl/output-json.txt")),
    )
    return standins


@pytest.fixture
def syslog(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/syslog").write_text(capture("rsyslog/syslog.txt"))
    return Standins.create(tmp_path, root)


async def test_journald_filters_are_journalctls_own(journald: Standins) -> None:
    data = {"unit": "ssh.service", "priority": "warning", "since": "2h", "lines": 50, "grep": "kex"}
    before = time.time()
    result = await run("log.query", data, context(journald))
    (argv,) = journald.calls("journalctl")
    assert argv[:5] == [
        "--no-pager",
        "--quiet",
        "--output=json",
        "--output-fields=MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_PID,_HOSTNAME",
        "--lines=50",
    ]
    assert argv[5:7] == ["--unit=ssh.service", "--priority=warning"]
    since = int(argv[7].removeprefix("--since=@"))
    assert before - 7200 - 1 <= since <= time.time() - 7200
    assert argv[8:] == ["--grep=kex"]
    assert (result["source"], result["path"], result["unapplied"]) == ("journald", None, [])


async def test_journal_entries_are_parsed_oldest_first(journald: Standins) -> None:
    result = await run("log.query", {"lines": 3}, context(journald))
    assert [e["identifier"] for e in result["entries"]] == ["sshd", "nginx", "CRON"]
    sshd, nginx, _ = result["entries"]
    assert sshd == {
        "timestamp": "2024-05-01T10:02:02.500Z",
        "message": "error: kex_exchange_identification: Connection closed by remote host",
        "unit": "ssh.service",
        "identifier": "sshd",
        "pid": 1931,
        "priority": "err",
        "hostname": "web-1",
    }
    assert nginx["message"] == "\x1b[32mstarted\x1b[0m worker \ufffd"  # sent as bytes
    everything = await run("log.query", {}, context(journald))
    kernel = everything["entries"][1]
    assert (kernel["unit"], kernel["pid"], kernel["priority"]) == (None, None, "warning")


async def test_a_grep_that_matches_nothing_is_no_entries_and_other_failures_fail(
    journald: Standins,
) -> None:
    journald.add("journalctl", otherwise=Answer(exit_code=1))
    assert (await run("log.query", {"grep": "nothing"}, context(journald)))["entries"] == []
    with pytest.raises(OperationFailed, match="journalctl exited with 1"):
        await run("log.query", {}, context(journald))


async def test_the_syslog_file_serves_when_there_is_no_journal(syslog: Standins) -> None:
    result = await run("log.query", {"unit": "nginx.service", "priority": "err"}, context(syslog))
    assert (result["source"], result["path"]) == ("syslog", "/var/log/syslog")
    assert result["unapplied"] == ["priority"]
    (entry,) = result["entries"]
    assert entry == {
        "timestamp": "2024-05-01T10:00:00.456Z",
        "hostname": "web-1",
        "identifier": "nginx",
        "pid": 2040,
        "message": 'nginx: [warn] the "user" directive makes sense only if the master process'
        " runs with super-user privileges",
    }
    found = await run("log.query", {"grep": "warn", "lines": 2}, context(syslog))
    assert [e["identifier"] for e in found["entries"]] == ["nginx", "kernel"]
    assert (await run("log.query", {"grep": "WARN"}, context(syslog)))["entries"] == []
    late = await run("log.query", {"since": "2024-05-01T10:05:00+00:00"}, context(syslog))
    assert [e["identifier"] for e in late["entries"]] == ["CRON", "kernel", "sshd"]
    classic = late["entries"][-1]
    assert (classic["pid"], classic["message"]) == (
        1931,
        "error: kex_exchange_identification: Connection closed by remote host",
    )


async def test_var_log_messages_serves_on_the_rhel_family(syslog: Standins) -> None:
    (syslog.root / "var/log/syslog").rename(syslog.root / "var/log/messages")
    result = await run("log.query", {"lines": 1}, context(syslog))
    assert result["path"] == "/var/log/messages"
    assert len(result["entries"]) == 1


async def test_a_host_with_no_log_is_skipped_for_queries_and_says_so_for_sources(
    tmp_path: Path,
) -> None:
    (tmp_path / "var/log/journal").mkdir(parents=True)  # a journal, but no journalctl
    ctx = OperationContext(hostname="h", timeout=10, host=Host(tmp_path, str(tmp_path)))
    with pytest.raises(OperationSkipped, match="keeps no journal"):
        await run("log.query", {}, ctx)
    assert await run("log.sources", {}, ctx) == {
        "journald": False,
        "syslog": [],
        "default": None,
        "units": [],
    }


async def test_sources_name_the_logs_and_the_units(journald: Standins) -> None:
    (journald.root / "var/log/syslog").write_text("")
    assert await run("log.sources", {}, context(journald)) == {
        "journald": True,
        "syslog": ["/var/log/syslog"],
        "default": "journald",
        "units": [
            "cron.service",
            "init.scope",
            "nginx.service",
            "ssh.service",
            "systemd-journald.service",
        ],
    }


async def test_this_machines_journalctl_accepts_every_filter() -> None:
    host = Host()
    if not journald_available(host):
        pytest.skip("this machine keeps no journal")
    ctx = OperationContext(hostname="h", timeout=30, host=host)
    data = {
        "unit": "ssh.service",
        "priority": "warning",
        "since": "1h",
        "lines": 5,
        "grep": "corral",
    }
    result = await run("log.query", data, ctx)
    assert result["source"] == "journald"
    assert len(result["entries"]) <= 5
    sources = await run("log.sources", {}, ctx)
    assert sources["journald"] is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"unit": "ssh service"}, "operation.data.unit: Expected `str` matching regex"),
        ({"unit": "-x"}, "operation.data.unit: Expected `str` matching regex"),
        ({"unit": "ssh\n"}, "operation.data.unit: Expected `str` matching regex"),
        ({"since": "yesterday"}, "operation.data.since: must be a duration"),
        ({"since": "2024-05-01T10:00:00"}, "since: must be a duration"),
        ({"lines": 0}, "operation.data.lines: Expected `int` >= 1"),
        ({"lines": 1001}, "operation.data.lines: Expected `int` <= 1000"),
        ({"grep": "("}, "grep is not a regular expression"),
        ({"priority": "loud"}, "operation.data.priority: Expected `str | null`|Invalid enum value"),
    ],
)
def test_bad_parameters_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(OperationError, match=message):
        validate_params("log.query", data)
