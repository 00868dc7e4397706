"""node.hostname.update, and node's /etc reads through the host root (agent/operations/node.py).

On a temp root with recording stand-ins for ``hostnamectl`` and ``hostname``:
the machine's own name is never touched.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationError, OperationResult
from tests.standins import Answer, Standins, capture

HOSTNAMECTL_SETS = "tests.agent.operations.test_node_hostname:hostnamectl_set_hostname"
UBUNTU_OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
"""


def hostnamectl_set_hostname(args: list[str], root: Path, stdin: str | None) -> None:
    """What hostnamed does for ``hostnamectl set-hostname NAME``: /etc/hostname holds it."""
    (root / "etc/hostname").write_text(args[1] + "\n")


def make_root(tmp_path: Path, *, systemd: bool) -> tuple[Path, Standins]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("old-name\n")
    if systemd:
        (root / "run/systemd/system").mkdir(parents=True)
    standins = Standins.create(tmp_path, root)
    standins.add("hostnamectl", Answer(("set-hostname",), effect=HOSTNAMECTL_SETS))
    standins.add("hostname")
    return root, standins


async def update(name: str, root: Path, path: str, *, dry_run: bool = False) -> OperationResult:
    ctx = OperationContext(hostname="h", timeout=10, host=Host(root, path), dry_run=dry_run)
    data = {"name": name}
    result = await HANDLERS["node.hostname.update"](
        validate_params("node.hostname.update", data), ctx
    )
    msgspec.convert(result.data, OPERATIONS["node.hostname.update"].result, strict=True)
    return result


async def test_with_systemd_hostnamectl_sets_the_name_once(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=True)
    first = await update("web-1.example.com", root, standins.path)
    assert first.changed is True
    assert first.data == {
        "hostname": "web-1.example.com",
        "diff": {"before": "old-name", "after": "web-1.example.com"},
        "method": "hostnamectl",
    }
    assert standins.calls("hostnamectl") == [["set-hostname", "web-1.example.com"]]
    assert (root / "etc/hostname").read_text() == "web-1.example.com\n"
    again = await update("web-1.example.com", root, standins.path)
    assert again.changed is False
    assert len(standins.calls("hostnamectl")) == 1
    assert standins.calls("hostname") == []


async def test_without_systemd_the_file_is_written_and_hostname_run(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=False)
    (root / "etc/hostname").chmod(0o640)
    first = await update("db-2", root, standins.path)
    assert (first.changed, first.data["method"]) == (True, "hostname")
    assert (root / "etc/hostname").read_text() == "db-2\n"
    assert (root / "etc/hostname").stat().st_mode & 0o777 == 0o640  # the mode is kept
    assert standins.calls("hostname") == [["db-2"]]
    assert (await update("db-2", root, standins.path)).changed is False
    assert standins.calls("hostname") == [["db-2"]]
    assert standins.calls("hostnamectl") == []


async def test_a_dry_run_reports_the_change_and_touches_nothing(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=False)
    result = await update("db-2", root, standins.path, dry_run=True)
    assert result.changed is True
    assert result.data["diff"] == {"before": "old-name", "after": "db-2"}
    assert (root / "etc/hostname").read_text() == "old-name\n"
    assert standins.calls("hostname") == []


async def test_an_unset_name_is_before_null(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=False)
    (root / "etc/hostname").write_text("# no name yet\n\n")
    result = await update("db-2", root, standins.path, dry_run=True)
    assert result.data["diff"] == {"before": None, "after": "db-2"}


async def test_a_host_without_the_tool_skips_even_a_dry_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run/systemd/system").mkdir(parents=True)
    empty = Standins.create(tmp_path, root)
    with pytest.raises(OperationSkipped, match="hostnamectl is not installed"):
        await update("db-2", root, empty.only, dry_run=True)


async def test_a_failing_hostnamectl_fails_with_what_it_said(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=True)
    said = capture("hostnamectl/status-without-systemd.stderr.txt")
    standins.add("hostnamectl", Answer(("set-hostname",), stderr=said, exit_code=1))
    with pytest.raises(OperationFailed, match="exited with 1: Failed to connect to bus"):
        await update("db-2", root, standins.path)
    assert (root / "etc/hostname").read_text() == "old-name\n"


async def test_a_refused_hostname_puts_the_file_back(tmp_path: Path) -> None:
    root, standins = make_root(tmp_path, systemd=False)
    refused = "hostname: you must be root to change the host name\n"
    standins.add("hostname", otherwise=Answer(stderr=refused, exit_code=1))
    with pytest.raises(OperationFailed, match="you must be root"):
        await update("db-2", root, standins.path)
    assert (root / "etc/hostname").read_text() == "old-name\n"


@pytest.mark.parametrize(
    "name",
    ["-web", "web-", "a..b", "under_score", "x" * 64, ".".join(["a" * 63] * 4) + "x", ""],
)
def test_a_bad_name_is_refused_naming_the_field(name: str) -> None:
    # "operation.data.name: must...": the struct's own check names the field in its message.
    with pytest.raises(OperationError, match=r"^operation\.data[.:] ?name: must be RFC 1123"):
        validate_params("node.hostname.update", {"name": name})


def test_a_long_name_of_good_labels_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    assert validate_params("node.hostname.update", {"name": name})


async def run_read(op: str, root: Path) -> Any:
    ctx = OperationContext(hostname="agent-1", timeout=10, host=Host(root))
    result = await HANDLERS[op](validate_params(op, {}), ctx)
    return msgspec.to_builtins(msgspec.convert(result.data, OPERATIONS[op].result, strict=True))


async def test_hostname_get_reads_the_static_name_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("static-1\n")
    data = await run_read("node.hostname.get", tmp_path)
    assert data == {
        "hostname": "agent-1",
        "system_hostname": socket.gethostname(),  # the kernel's, live
        "static_hostname": "static-1",
    }
    (tmp_path / "etc/hostname").unlink()
    assert (await run_read("node.hostname.get", tmp_path))["static_hostname"] is None


async def test_os_reads_os_release_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text(UBUNTU_OS_RELEASE)
    data = await run_read("node.os.get", tmp_path)
    assert (data["distribution"], data["distribution_id"], data["distribution_version"]) == (
        "Ubuntu 22.04.4 LTS",
        "ubuntu",
        "22.04",
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=rocky\nVERSION_ID="9.3"\n# comment\n')
    data = await run_read("node.os.get", tmp_path)  # /etc wins over /usr/lib
    assert (data["distribution"], data["distribution_id"], data["distribution_version"]) == (
        "",
        "rocky",
        "9.3",
    )
    assert (await run_read("node.status.get", tmp_path))["os"]["distribution_id"] == "rocky"
