"""Tests for agent/operations/group.py on a Debian fixture root with shadow-utils stand-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.catalog import validate_params
from common.operations.declaration import OperationError
from tests.agent.operations.operate import operate
from tests.standins import Standins
from tests.standins.shadow_tools import account_root


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Standins, Host]:
    root, standins = account_root(tmp_path)
    return root, standins, Host(root, standins.only)


def group_line(root: Path, name: str) -> str | None:
    rows = (root / "etc/group").read_text().splitlines()
    return next((row for row in rows if row.split(":")[0] == name), None)


async def test_list_and_get_read_etc_group(setup: tuple[Path, Standins, Host]) -> None:
    _, _, host = setup
    groups = {g["name"]: g for g in (await operate("group.list", {}, host)).data["groups"]}
    assert groups["sudo"] == {"name": "sudo", "gid": 27, "members": ["alice"], "system": True}
    assert groups["alice"]["system"] is False
    assert (await operate("group.get", {"name": "users"}, host)).data["gid"] == 100
    with pytest.raises(OperationFailed, match="no group named 'wheel'"):
        await operate("group.get", {"name": "wheel"}, host)


async def test_create_once_then_unchanged_and_a_different_gid_fails(
    setup: tuple[Path, Standins, Host],
) -> None:
    root, standins, host = setup
    dry = await operate("group.create", {"name": "deployers", "gid": 2001}, host, dry_run=True)
    assert (dry.changed, group_line(root, "deployers")) == (True, None)
    first = await operate("group.create", {"name": "deployers", "gid": 2001}, host)
    assert first.changed is True
    assert group_line(root, "deployers") == "deployers:x:2001:"
    assert first.data["group"] == {"name": "deployers", "gid": 2001, "members": [], "system": False}
    again = await operate("group.create", {"name": "deployers"}, host)
    assert again.changed is False
    with pytest.raises(
        OperationFailed, match=r"exists with gid 2001; change it with group\.update"
    ):
        await operate("group.create", {"name": "deployers", "gid": 2002}, host)
    system = await operate("group.create", {"name": "svc", "system": True}, host)
    assert system.data["group"]["gid"] == 999  # counted down from SYS_GID_MAX, like groupadd -r
    assert standins.calls("groupadd") == [["-g", "2001", "deployers"], ["-r", "svc"]]


async def test_update_sets_gid_and_members_only_when_they_differ(
    setup: tuple[Path, Standins, Host],
) -> None:
    root, standins, host = setup
    data = {"name": "alice", "gid": 1100, "members": ["root", "alice"]}
    dry = await operate("group.update", data, host, dry_run=True)
    assert dry.data["diff"] == {
        "before": {"gid": 1000, "members": []},
        "after": {"gid": 1100, "members": ["alice", "root"]},
    }
    assert (standins.calls("groupmod"), standins.calls("gpasswd")) == ([], [])
    first = await operate("group.update", data, host)
    assert first.changed is True
    assert group_line(root, "alice") == "alice:x:1100:alice,root"
    # groupmod moves the group's primary members along: alice's gid follows.
    assert (await operate("user.get", {"name": "alice"}, host)).data["gid"] == 1100
    again = await operate("group.update", {**data, "members": ["alice", "root", "root"]}, host)
    assert again.changed is False
    assert standins.calls("groupmod") == [["-g", "1100", "alice"]]
    assert standins.calls("gpasswd") == [["-M", "alice,root", "alice"]]


async def test_update_refuses_members_that_are_not_users(
    setup: tuple[Path, Standins, Host],
) -> None:
    _, standins, host = setup
    with pytest.raises(OperationFailed, match="no user named 'bob'"):
        await operate("group.update", {"name": "sudo", "members": ["bob"]}, host)
    assert standins.calls("gpasswd") == []


async def test_delete_once_and_a_primary_group_is_refused_as_groupdel_does(
    setup: tuple[Path, Standins, Host],
) -> None:
    root, standins, host = setup
    first = await operate("group.delete", {"name": "users"}, host)
    assert (first.changed, group_line(root, "users")) == (True, None)
    assert first.data["diff"]["before"]["gid"] == 100
    assert not (await operate("group.delete", {"name": "users"}, host)).changed
    with pytest.raises(OperationFailed, match="cannot remove the primary group of user 'alice'"):
        await operate("group.delete", {"name": "alice"}, host)
    assert standins.calls("groupdel") == [["users"], ["alice"]]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("group.create", {"name": "g"}),
        ("group.update", {"name": "sudo", "members": []}),
        ("group.update", {"name": "sudo", "gid": 28}),
        ("group.delete", {"name": "sudo"}),
    ],
)
async def test_a_host_without_the_tool_is_skipped_even_on_a_dry_run(
    tmp_path: Path, name: str, data: dict[str, object]
) -> None:
    root, _ = account_root(tmp_path)
    with pytest.raises(OperationSkipped, match="is not installed"):
        await operate(name, data, Host(root, str(tmp_path)), dry_run=True)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": "Bad"}, "operation.data.name"),
        ({"name": "g", "members": ["ok", "-bad"]}, "operation.data.members[1]"),
        ({"name": "g", "gid": "7"}, "operation.data.gid"),
    ],
)
def test_bad_params_name_the_field(data: dict[str, object], where: str) -> None:
    with pytest.raises(OperationError) as raised:
        validate_params("group.update", data)
    assert str(raised.value).startswith(f"{where}: ")
