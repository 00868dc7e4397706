"""Tests for agent/operations/user.py on a Debian fixture root with shadow-utils stand-ins.

The stand-ins' effects (tests/standins/shadow_tools.py) edit the root's
/etc/passwd, /etc/group and /etc/shadow as the real tools would, so a
second run sees the first one's result.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from agent.operations.accounts import hash_matches, parse_shadow
from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.operate import operate
from tests.standins import Standins
from tests.standins.shadow_tools import account_root

SECRET_PASSWORD = "s3cret-horse-battery"


@pytest.fixture
def root_and_standins(tmp_path: Path) -> tuple[Path, Standins]:
    return account_root(tmp_path)


@pytest.fixture
def root(root_and_standins: tuple[Path, Standins]) -> Path:
    return root_and_standins[0]


@pytest.fixture
def standins(root_and_standins: tuple[Path, Standins]) -> Standins:
    return root_and_standins[1]


@pytest.fixture
def host(root: Path, standins: Standins) -> Host:
    return Host(root, standins.only)


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def line_of(root: Path, name: str, what: str) -> str | None:
    rows = (root / "etc" / what).read_text().splitlines()
    return next((row for row in rows if row.split(":")[0] == name), None)


async def test_the_list_reads_passwd_group_and_shadow(host: Host) -> None:
    users = {u["name"]: u for u in (await operate("user.list", {}, host)).data["users"]}
    assert users["alice"] == {
        "name": "alice",
        "uid": 1000,
        "gid": 1000,
        "group": "alice",
        "groups": ["sudo"],
        "comment": "Alice Example,,,",
        "home": "/home/alice",
        "shell": "/bin/bash",
        "system": False,
        "locked": False,
    }
    assert (users["root"]["system"], users["root"]["locked"]) == (True, True)
    assert users["nobody"]["group"] == "nogroup"
    assert len(users) == 19


async def test_an_unreadable_shadow_leaves_the_lock_state_unknown(root: Path, host: Host) -> None:
    (root / "etc/shadow").unlink()
    (root / "etc/shadow").mkdir()  # reading fails, as for an agent that may not read it
    user = (await operate("user.get", {"name": "alice"}, host)).data
    assert user["locked"] is None


async def test_getting_a_missing_user_fails(host: Host) -> None:
    with pytest.raises(OperationFailed, match="no user named 'bob'"):
        await operate("user.get", {"name": "bob"}, host)


async def test_create_runs_useradd_once_and_again_changes_nothing(
    root: Path, standins: Standins, host: Host
) -> None:
    data = {"name": "deploy", "groups": ["sudo", "users"], "shell": "/bin/bash", "comment": "CI"}
    first = await operate("user.create", data, host)
    assert first.changed is True
    assert standins.calls("useradd") == [
        ["-s", "/bin/bash", "-c", "CI", "-G", "sudo,users", "-m", "deploy"]
    ]
    assert line_of(root, "deploy", "passwd") == "deploy:x:1001:1001:CI:/home/deploy:/bin/bash"
    assert line_of(root, "deploy", "group") == "deploy:x:1001:"
    assert line_of(root, "sudo", "group") == "sudo:x:27:alice,deploy"
    assert (root / "home/deploy").is_dir()
    assert first.data["diff"] == {
        "before": None,
        "after": {"shell": "/bin/bash", "comment": "CI", "groups": ["sudo", "users"]},
    }
    assert first.data["user"]["locked"] is True  # useradd leaves "!": no password yet

    again = await operate("user.create", data, host)
    assert (again.changed, again.data["diff"]) == (False, {"before": {}, "after": {}})
    assert len(standins.calls("useradd")) == 1


async def test_a_dry_run_create_touches_nothing_and_says_what_it_would_set(
    root: Path, standins: Standins, host: Host
) -> None:
    before = snapshot(root)
    result = await operate("user.create", {"name": "deploy", "uid": 1500}, host, dry_run=True)
    assert result.changed is True
    assert result.data == {
        "name": "deploy",
        "diff": {"before": None, "after": {"uid": 1500}},
        "user": None,
    }
    assert snapshot(root) == before
    assert standins.calls("useradd") == []


async def test_creating_a_user_that_exists_otherwise_names_what_differs(
    standins: Standins, host: Host
) -> None:
    with pytest.raises(OperationFailed, match="exists with another uid, shell; change it"):
        await operate("user.create", {"name": "alice", "uid": 7, "shell": "/bin/sh"}, host)
    with pytest.raises(OperationFailed, match="group 'wheel' does not exist"):
        await operate("user.create", {"name": "deploy", "groups": ["wheel"]}, host, dry_run=True)
    assert standins.calls("useradd") == []


async def test_update_changes_only_what_differs(root: Path, standins: Standins, host: Host) -> None:
    data = {"name": "alice", "shell": "/bin/bash", "groups": ["users"], "append": True}
    first = await operate("user.update", data, host)
    assert first.changed is True
    assert first.data["diff"] == {
        "before": {"groups": ["sudo"]},
        "after": {"groups": ["sudo", "users"]},
    }
    assert standins.calls("usermod") == [["-G", "sudo,users", "alice"]]
    assert line_of(root, "users", "group") == "users:x:100:alice"
    assert first.data["user"]["groups"] == ["sudo", "users"]

    again = await operate("user.update", data, host)
    assert (again.changed, again.data["diff"]) == (False, {"before": {}, "after": {}})
    assert len(standins.calls("usermod")) == 1

    exact = await operate("user.update", {"name": "alice", "groups": ["users"]}, host)
    assert exact.data["diff"]["after"] == {"groups": ["users"]}
    assert line_of(root, "sudo", "group") == "sudo:x:27:"


async def test_update_locks_and_unlocks_through_the_shadow_file(root: Path, host: Host) -> None:
    assert (await operate("user.update", {"name": "alice", "locked": True}, host)).changed
    assert line_of(root, "alice", "shadow").split(":")[1].startswith("!$6$")  # type: ignore[union-attr]
    assert not (await operate("user.update", {"name": "alice", "locked": True}, host)).changed
    unlocked = await operate("user.update", {"name": "alice", "locked": False}, host)
    assert unlocked.data["user"]["locked"] is False


async def test_unlocking_a_user_without_a_password_fails_instead_of_changing_forever(
    standins: Standins, host: Host
) -> None:
    await operate("user.create", {"name": "deploy"}, host)
    with pytest.raises(OperationFailed, match="no password to unlock"):
        await operate("user.update", {"name": "deploy", "locked": False}, host)
    assert standins.calls("usermod") == []


async def test_a_dry_run_update_shows_the_diff_and_touches_nothing(
    root: Path, standins: Standins, host: Host
) -> None:
    before = snapshot(root)
    data = {"name": "alice", "home": "/srv/alice", "move_home": True, "uid": 1000}
    result = await operate("user.update", data, host, dry_run=True)
    assert result.changed is True
    assert result.data["diff"] == {
        "before": {"home": "/home/alice"},
        "after": {"home": "/srv/alice"},
    }
    assert snapshot(root) == before
    assert standins.calls("usermod") == []


async def test_delete_removes_the_user_its_group_and_home_once(
    root: Path, standins: Standins, host: Host
) -> None:
    first = await operate("user.delete", {"name": "alice", "remove_home": True}, host)
    assert first.changed is True
    assert first.data["diff"]["before"]["uid"] == 1000
    assert standins.calls("userdel") == [["-r", "alice"]]
    assert line_of(root, "alice", "passwd") is None
    assert line_of(root, "alice", "shadow") is None
    assert line_of(root, "alice", "group") is None
    assert line_of(root, "sudo", "group") == "sudo:x:27:"
    assert not (root / "home/alice").exists()
    again = await operate("user.delete", {"name": "alice"}, host)
    assert (again.changed, again.data["diff"]) == (False, {"before": None, "after": None})
    assert len(standins.calls("userdel")) == 1


async def test_a_clear_password_goes_on_stdin_and_again_matches_the_stored_hash(
    root: Path, standins: Standins, host: Host
) -> None:
    data = {"name": "alice", "password": SECRET_PASSWORD}
    first = await operate("user.password.set", data, host)
    assert first.changed is True
    assert first.data == {
        "name": "alice",
        "method": "chpasswd",
        "current": "differs",
        "diff": {"before": {"hash": "differs"}, "after": {"hash": "matches"}},
    }
    assert standins.records("chpasswd") == [{"args": [], "stdin": f"alice:{SECRET_PASSWORD}\n"}]
    stored = parse_shadow((root / "etc/shadow").read_text())["alice"]
    assert hash_matches(SECRET_PASSWORD, stored) is True
    assert SECRET_PASSWORD.encode() not in msgspec.json.encode(first)

    again = await operate("user.password.set", data, host)
    assert (again.changed, again.data["current"]) == (False, "matches")
    assert len(standins.calls("chpasswd")) == 1


async def test_a_given_hash_is_compared_as_it_is_and_never_put_on_a_command_line(
    root: Path, standins: Standins, host: Host
) -> None:
    stored = parse_shadow((root / "etc/shadow").read_text())["alice"]
    same = await operate("user.password.set", {"name": "alice", "password_hash": stored}, host)
    assert (same.changed, same.data["current"]) == (False, "matches")
    new_hash = "$6$other$" + "x" * 86
    data = {"name": "alice", "password_hash": new_hash}
    dry = await operate("user.password.set", data, host, dry_run=True)
    assert (dry.changed, standins.calls("chpasswd")) == (True, [])
    changed = await operate("user.password.set", data, host)
    assert (changed.changed, changed.data["method"]) == (True, "chpasswd -e")
    assert standins.records("chpasswd") == [{"args": ["-e"], "stdin": f"alice:{new_hash}\n"}]
    assert parse_shadow((root / "etc/shadow").read_text())["alice"] == new_hash


async def test_a_password_is_set_again_when_shadow_cannot_be_read(
    root: Path, standins: Standins, host: Host
) -> None:
    (root / "etc/shadow").unlink()
    (root / "etc/shadow").mkdir()
    result = await operate(
        "user.password.set", {"name": "alice", "password": "x"}, host, dry_run=True
    )
    assert (result.changed, result.data["current"]) == (True, "unknown")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("user.create", {"name": "deploy"}),
        ("user.update", {"name": "alice", "shell": "/bin/sh"}),
        ("user.delete", {"name": "alice"}),
        ("user.password.set", {"name": "alice", "password": "x"}),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_host_without_the_tool_is_skipped(
    root: Path, tmp_path: Path, name: str, data: dict[str, str], dry_run: bool
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    with pytest.raises(OperationSkipped, match="is not installed on this host"):
        await operate(name, data, Host(root, str(empty)), dry_run=dry_run)


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("user.get", {"name": "Alice"}, "operation.data.name: Expected `str` matching"),
        ("user.create", {"name": "a", "groups": ["ok", "no way"]}, "operation.data.groups[1]"),
        ("user.create", {"name": "a", "home": "home/a"}, "operation.data.home"),
        ("user.create", {"name": "a", "comment": "a:b"}, "operation.data.comment"),
        ("user.create", {"name": "a", "uid": -1}, "operation.data.uid"),
        ("user.create", {"name": "a", "group": "x y"}, "operation.data.group"),
        ("user.update", {"name": "a", "shell": "/bin/sh\n"}, "operation.data.shell"),
        ("user.delete", {"name": "a", "purge": True}, "operation.data: Object contains unknown"),
        ("user.password.set", {"name": "a"}, "operation.data: give exactly one of password"),
    ],
)
def test_bad_params_name_the_field(name: str, data: dict[str, object], where: str) -> None:
    with pytest.raises(OperationError) as raised:
        validate_params(name, data)
    assert str(raised.value).startswith(where)


def test_a_bad_password_is_refused_without_quoting_it() -> None:
    with pytest.raises(OperationError, match=r"operation\.data\.password") as raised:
        validate_params("user.password.set", {"name": "a", "password": f"{SECRET_PASSWORD}\n"})
    assert SECRET_PASSWORD not in str(raised.value)
