"""The stand-ins record, answer and apply their effects as documented."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from tests.standins import Answer, Standins


def touch(args: list[str], root: Path, stdin: str | None) -> str:
    (root / args[-1]).write_text(stdin or "")
    return "touched\n"


def test_a_stand_in_records_answers_and_applies_its_effect(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    standins = Standins.create(tmp_path, root)
    standins.add(
        "systemctl",
        Answer(("is-active",), stdout="inactive\n", exit_code=3),
        Answer(("touch",), effect="tests.standins.test_standins:touch"),
    )
    host = Host(root, standins.only)

    ran = asyncio.run(host.run(["systemctl", "is-active", "nginx"], check=False))
    assert (ran.exit_code, ran.stdout) == (3, "inactive\n")
    ran = asyncio.run(host.run(["systemctl", "touch", "made"], stdin="hello"))
    assert ran.stdout == "touched\n"
    assert (root / "made").read_text() == "hello"
    assert standins.calls("systemctl") == [["is-active", "nginx"], ["touch", "made"]]
    with pytest.raises(OperationFailed, match="systemctl is-active exited with 3: inactive"):
        asyncio.run(host.run(["systemctl", "is-active", "nginx"]))


def test_a_tool_not_on_the_host_path_is_skipped(tmp_path: Path) -> None:
    host = Host(tmp_path, str(tmp_path))
    with pytest.raises(OperationSkipped, match="apt-get or dnf is not installed"):
        host.require("apt-get", "dnf")
