"""The dev stack's agents play separate hosts: a root each, and only harmless tools."""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.stack import HARMLESS_TOOLS, host_tools


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
