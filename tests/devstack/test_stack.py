"""The dev stack's agents play separate hosts: a root each, and only harmless tools."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from devstack.stack import HARMLESS_TOOLS, TRY_NEXT, DevStack, host_tools


def test_a_dev_agent_finds_only_the_harmless_tools_this_machine_has(tmp_path: Path) -> None:
    folder = host_tools(tmp_path / "tools")
    linked = sorted(p.name for p in folder.iterdir())
    assert linked == sorted(t for t in HARMLESS_TOOLS if shutil.which(t))
    assert all(
        (folder / name).resolve() == Path(shutil.which(name) or "").resolve() for name in linked
    )
    for tool in ("apt-get", "dnf", "useradd", "sysctl", "shutdown", "hostnamectl", "systemctl"):
        assert shutil.which(tool, path=str(folder)) is None
    assert host_tools(tmp_path / "tools") == folder  # again: nothing breaks


def test_the_next_steps_name_the_console_with_its_key_and_three_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = DevStack(agent_count=3, port=8080, nats_url=None, redis_url=None, api_key="k-1")
    stack.next_steps()
    shown = capsys.readouterr().out
    assert "http://127.0.0.1:8080/ui  (paste the API key: k-1)" in shown
    tries = [line.strip() for line in shown.splitlines() if "corral " in line]
    assert tries == [f"CORRAL_API_KEY=k-1 corral {command}" for command in TRY_NEXT]

    elsewhere = DevStack(agent_count=3, port=18080, nats_url=None, redis_url=None, api_key="k-2")
    elsewhere.next_steps()
    assert "CORRAL_API_KEY=k-2 CORRAL_URL=http://127.0.0.1:18080 corral run" in (
        capsys.readouterr().out
    )


def test_each_command_worth_trying_names_commands_and_flags_the_cli_has() -> None:
    for command in TRY_NEXT:
        # Unknown commands and flags fail while parsing, before --help answers.
        result = CliRunner().invoke(main, [*shlex.split(command), "--help"])
        assert result.exit_code == 0, (command, result.output)
