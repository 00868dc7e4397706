"""The ``group`` family's declarations: local groups in /etc/group. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc
from common.operations.user import AccountName, Id


class NameParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[AccountName, doc("The group's name.")]


class CreateParams(NameParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gid: Annotated[Id | None, doc("Numeric group id; else the next free one.")] = None
    system: Annotated[bool, doc("A system group (groupadd -r): id below GID_MIN.")] = False


class UpdateParams(NameParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gid: Annotated[Id | None, doc("New numeric group id (groupmod -g).")] = None
    members: Annotated[
        list[AccountName] | None, doc("Exactly these members, by user name (gpasswd -M).")
    ] = None


class Group(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    gid: int
    members: Annotated[list[str], doc("Users listed in /etc/group, as listed.")]
    system: Annotated[bool, doc("gid outside login.defs' GID_MIN..GID_MAX.")]


class GroupList(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    groups: list[Group]


class GroupChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    diff: Annotated[
        dict[str, Any], doc("`before` and `after`: the settings that differ (null: no group).")
    ]
    group: Annotated[Group | None, doc("The group after the change; null on a dry run.")] = None


FAMILY = Family(
    name="group",
    summary="Local groups: /etc/group, through groupadd, groupmod and gpasswd.",
    declarations=(
        Declaration(
            name="group.list",
            params=NoParams,
            result=GroupList,
            kind="read",
            summary="Every local group with its members.",
            description="From /etc/group.",
        ),
        Declaration(
            name="group.get",
            params=NameParams,
            result=Group,
            kind="read",
            summary="One local group.",
            description="Like one entry of `group.list`; fails when there is no such group.",
            example={"name": "sudo"},
        ),
        Declaration(
            name="group.create",
            params=CreateParams,
            result=GroupChange,
            kind="mutate",
            summary="Create a group (groupadd).",
            description=(
                "A group that exists with the `gid` given (or any, when none is) is"
                " `changed: false`; one with another gid fails (use `group.update`)."
            ),
            example={"name": "deployers", "gid": 2001},
            dry_run=True,
        ),
        Declaration(
            name="group.update",
            params=UpdateParams,
            result=GroupChange,
            kind="mutate",
            summary="Change a group's id (groupmod) or members (gpasswd -M).",
            description=(
                "Compares the group with the settings given and changes only those that"
                " differ; members are compared as a set. The members named must exist."
            ),
            example={"name": "deployers", "members": ["alice", "deploy"]},
            dry_run=True,
        ),
        Declaration(
            name="group.delete",
            params=NameParams,
            result=GroupChange,
            kind="mutate",
            summary="Delete a group (groupdel).",
            description=(
                "A group that does not exist is `changed: false`. groupdel refuses to"
                " delete a user's primary group: the job fails with its message."
            ),
            example={"name": "deployers"},
            dry_run=True,
        ),
    ),
)
