"""The ``user.*`` operations: local accounts, read from the files, changed by the tools. I/O.

Reads go through agent/operations/accounts.py (files under the host root);
changes run useradd, usermod, userdel and chpasswd through ``ctx.host.run``
after comparing the account with what the parameters ask, so a second
identical run runs nothing and says ``changed: false``. The settings
compared are the ones the parameters name: ``uid``, ``group`` (by name),
``groups`` (a sorted list), ``home``, ``shell``, ``comment`` and ``locked``.

A password is compared, never shown: a given hash with the stored one, a
clear password by crypt(3) of it with the stored hash as salt. It reaches
chpasswd on stdin only (with ``-e`` for a hash), never on a command line.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from agent.operations.accounts import Accounts, PasswdEntry, hash_matches, read_accounts
from agent.operations.base import Handler, OperationContext, OperationFailed
from common.operations.declaration import NoParams, OperationResult
from common.operations.user import (
    CreateParams,
    DeleteParams,
    NameParams,
    PasswordParams,
    PasswordResult,
    UpdateParams,
    UserChange,
    UserList,
)

_Settings = CreateParams | UpdateParams
# Simple settings: compared and passed to the tools as they are.
_FLAGS = {"uid": "-u", "home": "-d", "shell": "-s", "comment": "-c"}


def _result(
    name: str, before: Any, after: Any, changed: bool, accounts: Accounts | None
) -> OperationResult:
    user = None
    if accounts is not None and name in accounts.users:
        user = accounts.user_record(accounts.users[name])
    return OperationResult(
        data=msgspec.to_builtins(
            UserChange(name=name, diff={"before": before, "after": after}, user=user)
        ),
        changed=changed,
    )


def wanted(accounts: Accounts, params: _Settings) -> dict[str, Any]:
    """The settings the parameters name, resolved as the files hold them."""
    found: dict[str, Any] = {
        key: getattr(params, key) for key in _FLAGS if getattr(params, key) is not None
    }
    if params.group is not None:
        found["group"] = accounts.require_group(params.group).name
    if params.groups is not None:
        names = {accounts.require_group(g).name for g in params.groups}
        if isinstance(params, UpdateParams) and params.append:
            names |= set(accounts.supplementary(params.name))
        found["groups"] = sorted(names)
    if isinstance(params, UpdateParams) and params.locked is not None:
        found["locked"] = params.locked
    return found


def current(accounts: Accounts, entry: PasswdEntry) -> dict[str, Any]:
    record = accounts.user_record(entry)
    return {
        "uid": record.uid,
        "home": record.home,
        "shell": record.shell,
        "comment": record.comment,
        "group": record.group,
        "groups": record.groups,
        "locked": record.locked,  # None (shadow unreadable) differs from either wish
    }


def differences(accounts: Accounts, entry: PasswdEntry, want: dict[str, Any]) -> dict[str, Any]:
    now = current(accounts, entry)
    return {key: now[key] for key in want if now[key] != want[key]}


async def list_users(params: NoParams, ctx: OperationContext) -> OperationResult:
    accounts = read_accounts(ctx.host)
    users = [accounts.user_record(entry) for entry in accounts.users.values()]
    return OperationResult(data=msgspec.to_builtins(UserList(users=users)))


async def get_user(params: NameParams, ctx: OperationContext) -> OperationResult:
    accounts = read_accounts(ctx.host)
    return OperationResult(
        data=msgspec.to_builtins(accounts.user_record(accounts.user(params.name)))
    )


def _useradd_argv(params: CreateParams, want: dict[str, Any]) -> list[str]:
    argv = ["useradd"]
    for key, flag in _FLAGS.items():
        if key in want:
            argv += [flag, str(want[key])]
    if "group" in want:
        argv += ["-g", want["group"]]
    if want.get("groups"):
        argv += ["-G", ",".join(want["groups"])]
    if params.system:
        argv.append("-r")
    argv.append("-m" if params.create_home else "-M")
    return [*argv, params.name]


async def create_user(params: CreateParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("useradd")
    accounts = read_accounts(ctx.host)
    want = wanted(accounts, params)
    if params.name in accounts.users:
        differ = differences(accounts, accounts.users[params.name], want)
        if differ:
            raise OperationFailed(
                f"user {params.name!r} exists with another {', '.join(differ)};"
                " change it with user.update"
            )
        return _result(params.name, {}, {}, False, accounts)
    if ctx.dry_run:
        return _result(params.name, None, want, True, None)
    await ctx.host.run(_useradd_argv(params, want))
    return _result(params.name, None, want, True, read_accounts(ctx.host))


def _usermod_argv(params: UpdateParams, differ: dict[str, Any], want: dict[str, Any]) -> list[str]:
    argv = ["usermod"]
    for key, flag in _FLAGS.items():
        if key in differ:
            argv += [flag, str(want[key])]
    if "home" in differ and params.move_home:
        argv.append("-m")
    if "group" in differ:
        argv += ["-g", want["group"]]
    if "groups" in differ:
        argv += ["-G", ",".join(want["groups"])]  # the whole set, appended or not
    if "locked" in differ:
        argv.append("-L" if want["locked"] else "-U")
    return [*argv, params.name]


async def update_user(params: UpdateParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("usermod")
    accounts = read_accounts(ctx.host)
    entry = accounts.user(params.name)
    want = wanted(accounts, params)
    differ = differences(accounts, entry, want)
    if differ.get("locked") is True and params.locked is False and _no_hash(accounts, entry):
        # usermod -U would refuse, leaving the account locked and every run "changed".
        raise OperationFailed(
            f"user {params.name!r} has no password to unlock; set one with user.password.set"
        )
    after = {key: want[key] for key in differ}
    if not differ or ctx.dry_run:
        return _result(params.name, differ, after, bool(differ), None if differ else accounts)
    await ctx.host.run(_usermod_argv(params, differ, want))
    return _result(params.name, differ, after, True, read_accounts(ctx.host))


def _no_hash(accounts: Accounts, entry: PasswdEntry) -> bool:
    stored = (accounts.shadow or {}).get(entry.name, "")
    return stored.lstrip("!") in ("", "*")


async def delete_user(params: DeleteParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("userdel")
    accounts = read_accounts(ctx.host)
    if params.name not in accounts.users:
        return _result(params.name, None, None, False, None)
    before = msgspec.to_builtins(accounts.user_record(accounts.users[params.name]))
    if not ctx.dry_run:
        await ctx.host.run(["userdel", *(["-r"] if params.remove_home else []), params.name])
    return _result(params.name, before, None, True, None)


_STATES: dict[bool | None, Literal["matches", "differs", "unknown"]] = {
    True: "matches",
    False: "differs",
    None: "unknown",
}


async def set_password(params: PasswordParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("chpasswd")
    accounts = read_accounts(ctx.host)
    accounts.user(params.name)
    stored = None if accounts.shadow is None else accounts.shadow.get(params.name, "")
    matches: bool | None = None
    if params.password_hash is not None:
        secret, argv = params.password_hash, ["chpasswd", "-e"]
        if stored is not None:
            matches = stored == secret
    else:
        assert params.password is not None  # the params allow exactly one
        secret, argv = params.password, ["chpasswd"]
        if stored is not None:
            matches = hash_matches(secret, stored)
    state = _STATES[matches]
    if matches is not True and not ctx.dry_run:
        await ctx.host.run(argv, stdin=f"{params.name}:{secret}\n")
    result = PasswordResult(
        name=params.name,
        method="chpasswd -e" if params.password_hash is not None else "chpasswd",
        current=state,
        diff={"before": {"hash": state}, "after": {"hash": "matches"}},
    )
    return OperationResult(data=msgspec.to_builtins(result), changed=matches is not True)


HANDLERS: dict[str, Handler] = {
    "user.list": list_users,
    "user.get": get_user,
    "user.create": create_user,
    "user.update": update_user,
    "user.delete": delete_user,
    "user.password.set": set_password,
}
