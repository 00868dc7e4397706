"""Tests for common/operations/ssh_key.py (lines, fingerprints) and agent/operations/ssh_key.py.

The fingerprints are checked against what the real ``ssh-keygen -lf``
printed (tests/standins/captures/ssh-keygen/). The handlers run on a
Debian fixture root with a user owned by whoever runs the tests, so the
owner they set can be checked without root.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.operations.errors import OperationFailed
from agent.operations.host import Host
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from common.operations.ssh_key import parse_line
from tests.agent.operations.operate import operate
from tests.standins import capture
from tests.standins.shadow_tools import account_root

ED25519 = capture("ssh-keygen/ed25519.pub").strip()
RSA = capture("ssh-keygen/rsa.pub").strip()
ED25519_FINGERPRINT = capture("ssh-keygen/ed25519.lf.txt").split()[1]
RSA_FINGERPRINT = capture("ssh-keygen/rsa.lf.txt").split()[1]
HOME = "/home/deploy"
FILE = f"{HOME}/.ssh/authorized_keys"


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_the_fingerprint_is_what_ssh_keygen_prints(kind: str) -> None:
    _bits, fingerprint, *_ = capture(f"ssh-keygen/{kind}.lf.txt").split()
    key = parse_line(capture(f"ssh-keygen/{kind}.pub"))
    assert key.fingerprint == fingerprint


def test_options_are_split_on_commas_outside_quotes() -> None:
    key = parse_line(f'from="10.0.0.1,10.0.0.2",no-pty,command="echo a b" {ED25519}')
    assert key.options == ('from="10.0.0.1,10.0.0.2"', "no-pty", 'command="echo a b"')
    assert (key.type, key.comment) == ("ssh-ed25519", "deploy@laptop")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "must be one non-empty line"),
        ("ssh-ed25519", "must be \\[options\\] type base64"),
        ("ssh-ed25519 not*base64", "base64 part that does not decode"),
        (RSA.replace("ssh-rsa", "ssh-ed25519", 1), "not a ssh-ed25519 key"),
        ('command="unclosed ' + ED25519, "unclosed quote"),
        ("no-pty,," + ED25519, "empty option"),
    ],
)
def test_a_bad_line_is_refused_naming_the_field(line: str, message: str) -> None:
    with pytest.raises(OperationError, match=f"^operation.data[.:] ?line:? .*{message}"):
        validate_params("ssh_key.add", {"user": "deploy", "line": line})


def test_a_bad_fingerprint_or_user_is_refused_at_its_path() -> None:
    with pytest.raises(OperationError, match=r"^operation\.data\.fingerprint: "):
        validate_params("ssh_key.remove", {"user": "deploy", "fingerprint": "MD5:00:11"})
    with pytest.raises(OperationError, match=r"^operation\.data\.user: "):
        validate_params("ssh_key.list", {"user": "../root"})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Host]:
    """The fixture root with ``deploy``, owned by the test's own uid and gid."""
    root, standins = account_root(tmp_path)
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(f"deploy:x:{os.geteuid()}:{os.getegid()}::{HOME}:/bin/bash\n")
    (root / HOME.lstrip("/")).mkdir(parents=True)
    return root, Host(root, standins.only)


async def test_add_creates_the_directory_and_file_private_and_owned_then_is_unchanged(
    setup: tuple[Path, Host],
) -> None:
    root, host = setup
    first = await operate("ssh_key.add", {"user": "deploy", "line": ED25519}, host)
    assert first.changed is True
    assert first.data["fingerprint"] == ED25519_FINGERPRINT
    assert f"+{ED25519}\n" in first.data["diff"]
    ssh_dir, path = root / "home/deploy/.ssh", root / FILE.lstrip("/")
    assert path.read_text() == ED25519 + "\n"
    assert ssh_dir.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.stat().st_uid, path.stat().st_gid) == (os.geteuid(), os.getegid())

    again = await operate("ssh_key.add", {"user": "deploy", "line": f"  {ED25519}  "}, host)
    assert (again.changed, again.data["diff"]) == (False, "")
    await operate("ssh_key.add", {"user": "deploy", "line": RSA}, host)
    assert path.read_text() == f"{ED25519}\n{RSA}\n"


async def test_the_same_key_with_other_options_replaces_its_line(
    setup: tuple[Path, Host],
) -> None:
    root, host = setup
    path = root / FILE.lstrip("/")
    path.parent.mkdir(mode=0o700)
    path.write_text(f"# managed\n{ED25519}\n{RSA}")  # no final newline
    restricted = f'no-pty,from="10.0.0.0/8" {ED25519.rsplit(" ", 1)[0]} ci'
    result = await operate("ssh_key.add", {"user": "deploy", "line": restricted}, host)
    assert result.changed is True
    assert path.read_text() == f"# managed\n{restricted}\n{RSA}\n"
    listing = (await operate("ssh_key.list", {"user": "deploy"}, host)).data
    assert listing["authorized"][0] == {
        "type": "ssh-ed25519",
        "fingerprint": ED25519_FINGERPRINT,
        "comment": "ci",
        "options": ["no-pty", 'from="10.0.0.0/8"'],
        "line": 2,
    }
    assert [k["fingerprint"] for k in listing["authorized"]] == [
        ED25519_FINGERPRINT,
        RSA_FINGERPRINT,
    ]


async def test_remove_by_fingerprint_once(setup: tuple[Path, Host]) -> None:
    root, host = setup
    path = root / FILE.lstrip("/")
    path.parent.mkdir(mode=0o700)
    path.write_text(f"{ED25519}\nnot a key\n{RSA}\n")
    data = {"user": "deploy", "fingerprint": ED25519_FINGERPRINT}
    dry = await operate("ssh_key.remove", data, host, dry_run=True)
    assert dry.changed is True
    assert f"-{ED25519}\n" in dry.data["diff"]
    assert path.read_text().startswith(ED25519)
    first = await operate("ssh_key.remove", data, host)
    assert (first.changed, path.read_text()) == (True, f"not a key\n{RSA}\n")
    assert not (await operate("ssh_key.remove", data, host)).changed
    listing = (await operate("ssh_key.list", {"user": "deploy"}, host)).data
    assert listing["invalid_lines"] == [1]


async def test_a_dry_run_add_creates_nothing_and_shows_the_diff(setup: tuple[Path, Host]) -> None:
    root, host = setup
    result = await operate("ssh_key.add", {"user": "deploy", "line": RSA}, host, dry_run=True)
    assert result.changed is True
    assert result.data["diff"].startswith(f"--- a{FILE}\n+++ b{FILE}\n")
    assert not (root / "home/deploy/.ssh").exists()


async def test_a_missing_file_lists_empty(setup: tuple[Path, Host]) -> None:
    _, host = setup
    listing = (await operate("ssh_key.list", {"user": "deploy"}, host)).data
    assert listing == {"user": "deploy", "path": FILE, "authorized": [], "invalid_lines": []}


async def test_a_missing_home_a_missing_user_and_a_symlink_fail(
    setup: tuple[Path, Host], tmp_path: Path
) -> None:
    root, host = setup
    with pytest.raises(OperationFailed, match="home directory /nonexistent of 'nobody'"):
        await operate("ssh_key.add", {"user": "nobody", "line": RSA}, host, dry_run=True)
    with pytest.raises(OperationFailed, match="no user named 'bob'"):
        await operate("ssh_key.list", {"user": "bob"}, host)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "home/deploy/.ssh").symlink_to(elsewhere)
    with pytest.raises(OperationFailed, match="is a symbolic link"):
        await operate("ssh_key.add", {"user": "deploy", "line": RSA}, host)
    assert not (elsewhere / "authorized_keys").exists()
