"""The host seam: files under the root, written atomically and only when they differ."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host


def test_paths_stay_under_the_root(tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.file("/etc/motd") == tmp_path / "etc" / "motd"
    with pytest.raises(OperationFailed, match=r"must not contain '\.\.'"):
        host.file("/etc/../../outside")
    with pytest.raises(OperationFailed, match="must be absolute"):
        host.file("etc/motd")


def test_a_write_changes_only_what_differs_and_keeps_the_mode(tmp_path: Path) -> None:
    host = Host(tmp_path)
    first = host.write_file("/etc/motd", b"hello\n", mode=0o600)
    assert (first.changed, first.before) == (True, None)
    assert (tmp_path / "etc/motd").stat().st_mode & 0o777 == 0o600
    assert not host.write_file("/etc/motd", b"hello\n").changed  # mode kept when not given
    again = host.write_file("/etc/motd", b"bye\n")
    assert (again.changed, again.before) == (True, b"hello\n")
    assert (tmp_path / "etc/motd").stat().st_mode & 0o777 == 0o600
    assert host.write_file("/etc/motd", b"bye\n", mode=0o644).changed  # the mode alone differs
    assert [p.name for p in (tmp_path / "etc").iterdir()] == ["motd"]  # no temporary left


def test_a_dry_run_write_or_remove_touches_nothing(tmp_path: Path) -> None:
    host = Host(tmp_path)
    assert host.write_file("/etc/motd", b"x", dry_run=True).changed
    assert not (tmp_path / "etc").exists()
    host.write_file("/etc/motd", b"x")
    assert host.remove_file("/etc/motd", dry_run=True) == b"x"
    assert (tmp_path / "etc/motd").exists()
    assert host.remove_file("/etc/motd") == b"x"
    assert host.remove_file("/etc/motd") is None


def test_the_owner_is_kept_or_set(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.write_file("/f", b"x", uid=os.geteuid(), gid=os.getegid())
    info = (tmp_path / "f").stat()
    assert (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid())


def test_systemd_counts_as_running_only_with_its_runtime_directory(tmp_path: Path) -> None:
    host = Host(tmp_path)
    with pytest.raises(OperationSkipped, match="systemd is not running"):
        host.require_systemd()
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    host.require_systemd()
