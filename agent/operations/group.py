"""The ``group.*`` operations: local groups, read from /etc/group, changed by the tools. I/O.

Like agent/operations/user.py: compare first, then run groupadd, groupmod,
gpasswd or groupdel only for what differs. Members are compared as a set
and set whole with ``gpasswd -M``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agent.operations.accounts import Accounts, GroupEntry, read_accounts
from agent.operations.base import Handler, OperationContext, OperationFailed
from common.operations.declaration import NoParams, OperationResult
from common.operations.group import CreateParams, GroupChange, GroupList, NameParams, UpdateParams


def _result(
    name: str, before: Any, after: Any, changed: bool, accounts: Accounts | None
) -> OperationResult:
    group = None
    if accounts is not None and name in accounts.groups:
        group = accounts.group_record(accounts.groups[name])
    change = GroupChange(name=name, diff={"before": before, "after": after}, group=group)
    return OperationResult(data=msgspec.to_builtins(change), changed=changed)


def _group(accounts: Accounts, name: str) -> GroupEntry:
    try:
        return accounts.groups[name]
    except KeyError:
        raise OperationFailed(f"no group named {name!r} in /etc/group") from None


async def list_groups(params: NoParams, ctx: OperationContext) -> OperationResult:
    accounts = read_accounts(ctx.host)
    groups = [accounts.group_record(entry) for entry in accounts.groups.values()]
    return OperationResult(data=msgspec.to_builtins(GroupList(groups=groups)))


async def get_group(params: NameParams, ctx: OperationContext) -> OperationResult:
    accounts = read_accounts(ctx.host)
    return OperationResult(
        data=msgspec.to_builtins(accounts.group_record(_group(accounts, params.name)))
    )


async def create_group(params: CreateParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("groupadd")
    accounts = read_accounts(ctx.host)
    existing = accounts.groups.get(params.name)
    if existing is not None:
        if params.gid is not None and existing.gid != params.gid:
            raise OperationFailed(
                f"group {params.name!r} exists with gid {existing.gid}; change it with group.update"
            )
        return _result(params.name, {}, {}, False, accounts)
    after = {"gid": params.gid} if params.gid is not None else {}
    if ctx.dry_run:
        return _result(params.name, None, after, True, None)
    argv = ["groupadd"]
    if params.gid is not None:
        argv += ["-g", str(params.gid)]
    if params.system:
        argv.append("-r")
    await ctx.host.run([*argv, params.name])
    return _result(params.name, None, after, True, read_accounts(ctx.host))


def _differences(accounts: Accounts, entry: GroupEntry, params: UpdateParams) -> dict[str, Any]:
    """``(before, after)`` of each setting that differs."""
    found: dict[str, Any] = {}
    if params.gid is not None and params.gid != entry.gid:
        found["gid"] = (entry.gid, params.gid)
    if params.members is not None:
        for member in params.members:
            accounts.user(member)  # gpasswd would refuse an unknown user
        if set(params.members) != set(entry.members):
            found["members"] = (sorted(entry.members), sorted(set(params.members)))
    return found


async def update_group(params: UpdateParams, ctx: OperationContext) -> OperationResult:
    if params.gid is not None:
        ctx.host.require("groupmod")
    if params.members is not None:
        ctx.host.require("gpasswd")
    accounts = read_accounts(ctx.host)
    differ = _differences(accounts, _group(accounts, params.name), params)
    before = {key: pair[0] for key, pair in differ.items()}
    after = {key: pair[1] for key, pair in differ.items()}
    if not differ or ctx.dry_run:
        return _result(params.name, before, after, bool(differ), None if differ else accounts)
    if "gid" in differ:
        await ctx.host.run(["groupmod", "-g", str(after["gid"]), params.name])
    if "members" in differ:
        await ctx.host.run(["gpasswd", "-M", ",".join(after["members"]), params.name])
    return _result(params.name, before, after, True, read_accounts(ctx.host))


async def delete_group(params: NameParams, ctx: OperationContext) -> OperationResult:
    ctx.host.require("groupdel")
    accounts = read_accounts(ctx.host)
    if params.name not in accounts.groups:
        return _result(params.name, None, None, False, None)
    before = msgspec.to_builtins(accounts.group_record(accounts.groups[params.name]))
    if not ctx.dry_run:
        await ctx.host.run(["groupdel", params.name])
    return _result(params.name, before, None, True, None)


HANDLERS: dict[str, Handler] = {
    "group.list": list_groups,
    "group.get": get_group,
    "group.create": create_group,
    "group.update": update_group,
    "group.delete": delete_group,
}
