"""The ``user`` family's declarations: local accounts in /etc/passwd. Pure: no I/O.

Account names follow useradd's rule (``[a-z_][a-z0-9_-]*[$]?``, at most 32
characters); the ``group`` family uses the same checks. Result keys stay
clear of the redaction patterns (common/redaction.py): a key named like
``password`` would hide its value in every record.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from common.operations.declaration import (
    SECRET,
    Declaration,
    Family,
    NoParams,
    Params,
    doc,
)


def whole(pattern: str) -> str:
    """A constraint pattern the whole value must match.

    msgspec searches with Python's ``re``, where ``$`` also matches before
    a final newline: ``(?!\\n)`` refuses that; to a JSON Schema (ECMA) reader it is a no-op.
    """
    return f"^(?:{pattern})$(?!\\n)"


NAME_PATTERN = whole(r"[a-z_][a-z0-9_-]*\$?")
NAME_MAX = 32
# As constraints, not __post_init__ checks: a bad value is then reported at
# its own path (operation.data.groups[1]: ...), and the schema shows them.
AccountName = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN, max_length=NAME_MAX)]
GroupRef = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z_][a-z0-9_-]*\$?|[0-9]+"), max_length=NAME_MAX)
]
# Fields of a colon-separated line: no colon, newline or NUL.
FieldText = Annotated[str, msgspec.Meta(pattern=whole(r"[^:\n\x00]*"))]
AbsolutePath = Annotated[str, msgspec.Meta(pattern=whole(r"/[^:\n\x00]*"))]
# 2**32 - 1 is (uid_t) -1, "no change" to chown(2): never an account's id.
Id = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 2)]


class NameParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[AccountName, doc("The user's login name.")]


class _Settings(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What create and update both set; unset fields are left as they are."""

    name: Annotated[AccountName, doc("The user's login name.")]
    uid: Annotated[Id | None, doc("Numeric user id.")] = None
    group: Annotated[GroupRef | None, doc("Primary group, by name or numeric id.")] = None
    groups: Annotated[list[AccountName] | None, doc("Supplementary groups, by name.")] = None
    home: Annotated[AbsolutePath | None, doc("Absolute home directory.")] = None
    shell: Annotated[AbsolutePath | None, doc("Absolute path of the login shell.")] = None
    comment: Annotated[FieldText | None, doc("The GECOS field (full name, ...).")] = None


class CreateParams(_Settings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    system: Annotated[bool, doc("A system account (useradd -r): id below UID_MIN.")] = False
    create_home: Annotated[bool, doc("Create the home directory (useradd -m).")] = True


class UpdateParams(_Settings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    append: Annotated[bool, doc("Add `groups` to the user's groups instead of setting them.")] = (
        False
    )
    move_home: Annotated[bool, doc("With `home`: move the old home's content there.")] = False
    locked: Annotated[bool | None, doc("Lock (usermod -L) or unlock (-U) the password.")] = None


class DeleteParams(NameParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    remove_home: Annotated[bool, doc("Also remove the home directory and mail spool.")] = False


class PasswordParams(NameParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly one of ``password`` and ``password_hash``; neither is ever shown."""

    # msgspec's messages for these constraints name the pattern, never the value.
    password: (
        Annotated[
            str,
            msgspec.Meta(pattern=whole(r"[^\n\x00]+")),
            SECRET,
            doc("The new password in clear; hashed by chpasswd."),
        ]
        | None
    ) = None
    password_hash: (
        Annotated[
            str,
            msgspec.Meta(pattern=whole(r"[^:\s]+")),
            SECRET,
            doc("An already hashed password, as crypt(3) writes it."),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if (self.password is None) == (self.password_hash is None):
            raise ValueError("give exactly one of password and password_hash")


class User(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    uid: int
    gid: int
    group: Annotated[str | None, doc("The primary group's name (null: no such group).")]
    groups: Annotated[list[str], doc("Supplementary groups, sorted.")]
    comment: str
    home: str
    shell: str
    system: Annotated[bool, doc("uid outside login.defs' UID_MIN..UID_MAX.")]
    locked: Annotated[
        bool | None, doc("Password locked or never set (hash starts with '!' or is '*').")
    ] = None


class UserList(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    users: list[User]


Diff = Annotated[
    dict[str, Any],
    doc("`before` and `after`: the settings that differ (null: no account)."),
]


class UserChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    diff: Diff
    user: Annotated[User | None, doc("The account after the change; null on a dry run.")] = None


class PasswordResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    method: Annotated[Literal["chpasswd", "chpasswd -e"], doc("How it was (or would be) set.")]
    current: Annotated[
        Literal["matches", "differs", "unknown"],
        doc("The stored hash against the given secret; `unknown` (shadow unreadable) changes."),
    ]
    diff: Annotated[dict[str, Any], doc("`before` and `after` of `current`.")]


NAME_EXAMPLE = {"name": "deploy"}

FAMILY = Family(
    name="user",
    summary="Local user accounts: /etc/passwd, /etc/shadow, through useradd and usermod.",
    declarations=(
        Declaration(
            name="user.list",
            params=NoParams,
            result=UserList,
            kind="read",
            summary="Every local user with groups and lock state.",
            description=(
                "From /etc/passwd, /etc/group (supplementary groups) and, when readable,"
                " /etc/shadow (`locked`; null when it is not)."
            ),
        ),
        Declaration(
            name="user.get",
            params=NameParams,
            result=User,
            kind="read",
            summary="One local user.",
            description="Like one entry of `user.list`; fails when there is no such user.",
            example=NAME_EXAMPLE,
        ),
        Declaration(
            name="user.create",
            params=CreateParams,
            result=UserChange,
            kind="mutate",
            summary="Create a user (useradd).",
            description=(
                "Runs useradd with the settings given. A user that exists with every"
                " given setting is `changed: false`; one that exists with other settings"
                " fails, naming them (use `user.update`). Groups named must exist."
            ),
            example={
                "name": "deploy",
                "groups": ["sudo"],
                "shell": "/bin/bash",
                "comment": "Deployments",
            },
            dry_run=True,
        ),
        Declaration(
            name="user.update",
            params=UpdateParams,
            result=UserChange,
            kind="mutate",
            summary="Change a user's settings (usermod).",
            description=(
                "Compares the account with the settings given and runs usermod with"
                " those that differ, if any. `diff` shows them before and after."
            ),
            example={"name": "deploy", "groups": ["docker"], "append": True},
            dry_run=True,
        ),
        Declaration(
            name="user.delete",
            params=DeleteParams,
            result=UserChange,
            kind="mutate",
            summary="Delete a user (userdel).",
            description="A user that does not exist is `changed: false`.",
            example={"name": "deploy", "remove_home": True},
            dry_run=True,
        ),
        Declaration(
            name="user.password.set",
            params=PasswordParams,
            result=PasswordResult,
            kind="mutate",
            summary="Set a user's password (chpasswd); the secret is never shown.",
            description=(
                "`password` is hashed by chpasswd (the distribution's ENCRYPT_METHOD);"
                " `password_hash` is stored as given (chpasswd -e, on stdin, so it never"
                " shows in the process list). `changed: false` when /etc/shadow already"
                " holds it: the same hash, or a hash that crypt(3) verifies the password"
                " against. When shadow cannot be read or verified, it is set again."
            ),
            example={"name": "deploy", "password": "correct horse battery staple"},
            dry_run=True,
        ),
    ),
)
