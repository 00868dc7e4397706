"""log.query through the whole system: submit -> signed -> agent -> a syslog file under a root."""

from __future__ import annotations

from pathlib import Path

from tests.controller.api.test_app import assert_error
from tests.harness import Stack
from tests.standins import Standins, capture

HOST = "web-1.dev.local"


async def test_a_log_query_through_the_system_reads_the_hosts_syslog(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/syslog").write_text(capture("rsyslog/syslog.txt"))
    bare = Standins.create(tmp_path, root)  # no journalctl: the syslog file it is
    await stack.start_agent(HOST, host_root=str(root), host_path=bare.only)

    data = {"unit": "sshd", "lines": 10}
    detail = await stack.final(await stack.submit("log.query", data, HOST))
    assert (detail["status"], detail["changed"]) == ("completed", False)
    assert detail["result"]["source"] == "syslog"
    (entry,) = detail["result"]["entries"]
    assert (entry["identifier"], entry["pid"]) == ("sshd", 1931)

    body = {"operation": {"type": "log.query", "data": {"lines": 5000}}, "target": HOST}
    refused = await stack.api.post("/job", json=body)
    assert_error(refused, 400)
    assert "operation.data.lines" in refused.json()["details"]
