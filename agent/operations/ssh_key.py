"""The ``ssh_key.*`` operations: a user's ~/.ssh/authorized_keys. I/O (files under the root).

The user's home, uid and gid come from the host root's /etc/passwd. Keys
are compared by fingerprint (common/operations/ssh_key.py), the file is
written atomically through ``ctx.host.write_file``, 0600 and owned by the
user, in a ~/.ssh made 0700 and owned by the user when it is missing. No
tool is needed, so these operations are never skipped.

The agent runs as root in a directory its user owns: a ~/.ssh or an
authorized_keys that is a symbolic link could point it at any file, so
either is refused.
"""

from __future__ import annotations

import os

import msgspec

from agent.operations.accounts import PasswdEntry, read_accounts
from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.declaration import OperationResult
from common.operations.ssh_key import (
    AddParams,
    Authorized,
    KeyChange,
    KeyLine,
    KeyListing,
    ListParams,
    RemoveParams,
    parse_line,
)


def _where(host: Host, user: str) -> tuple[PasswdEntry, str]:
    """The user's entry and the host path of their authorized_keys."""
    entry = read_accounts(host).user(user)
    if not entry.home.startswith("/"):
        raise OperationFailed(f"user {user!r} has no absolute home directory in /etc/passwd")
    path = f"{entry.home.rstrip('/')}/.ssh/authorized_keys"
    for link in (path.rpartition("/")[0], path):
        if host.file(link).is_symlink():
            raise OperationFailed(f"{link} is a symbolic link; refusing to follow it")
    return entry, path


def _parsed(line: str) -> KeyLine | None:
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    try:
        return parse_line(line)
    except ValueError:
        return None


async def list_keys(params: ListParams, ctx: OperationContext) -> OperationResult:
    _, path = _where(ctx.host, params.user)
    found, invalid = [], []
    for number, line in enumerate((ctx.host.read_text(path) or "").splitlines(), start=1):
        key = _parsed(line)
        if key is not None:
            found.append(
                Authorized(
                    type=key.type,
                    fingerprint=key.fingerprint,
                    comment=key.comment,
                    options=list(key.options),
                    line=number,
                )
            )
        elif line.strip() and not line.lstrip().startswith("#"):
            invalid.append(number)
    listing = KeyListing(user=params.user, path=path, authorized=found, invalid_lines=invalid)
    return OperationResult(data=msgspec.to_builtins(listing))


def _with_key(text: str, line: str) -> str:
    """``text`` with ``line`` in it: as it is, replacing its key's first line, or appended."""
    wanted = line.strip()
    fingerprint = parse_line(wanted).fingerprint
    lines = text.splitlines()
    same = [
        i for i, old in enumerate(lines) if (k := _parsed(old)) and k.fingerprint == fingerprint
    ]
    if any(lines[i].strip() == wanted for i in same):
        return text
    if same:
        lines[same[0]] = wanted
    else:
        lines.append(wanted)
    return "\n".join(lines) + "\n"


def _without_key(text: str, fingerprint: str) -> str:
    lines = text.splitlines()
    kept = [old for old in lines if not ((k := _parsed(old)) and k.fingerprint == fingerprint)]
    if len(kept) == len(lines):
        return text
    return "".join(f"{line}\n" for line in kept)


async def _write(
    ctx: OperationContext, entry: PasswdEntry, path: str, fingerprint: str, before: str, after: str
) -> OperationResult:
    change = KeyChange(user=entry.name, path=path, fingerprint=fingerprint, diff="")
    if after == before:
        return OperationResult(data=msgspec.to_builtins(change))
    if not ctx.dry_run:
        _make_ssh_dir(ctx.host, entry, path.rpartition("/")[0])
    ctx.host.write_file(
        path, after.encode(), mode=0o600, uid=entry.uid, gid=entry.gid, dry_run=ctx.dry_run
    )
    change = msgspec.structs.replace(change, diff=unified(path, before, after))
    return OperationResult(data=msgspec.to_builtins(change), changed=True)


def _make_ssh_dir(host: Host, entry: PasswdEntry, ssh_dir: str) -> None:
    directory = host.file(ssh_dir)
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700)
        os.chown(directory, entry.uid, entry.gid)
    except OSError as exc:
        raise OperationFailed(f"cannot create {ssh_dir}: {exc.strerror or exc}") from None


async def add_key(params: AddParams, ctx: OperationContext) -> OperationResult:
    entry, path = _where(ctx.host, params.user)
    if not ctx.host.file(entry.home).is_dir():
        raise OperationFailed(f"home directory {entry.home} of {entry.name!r} does not exist")
    before = ctx.host.read_text(path) or ""
    after = _with_key(before, params.line)
    return await _write(ctx, entry, path, parse_line(params.line).fingerprint, before, after)


async def remove_key(params: RemoveParams, ctx: OperationContext) -> OperationResult:
    entry, path = _where(ctx.host, params.user)
    before = ctx.host.read_text(path) or ""
    after = _without_key(before, params.fingerprint)
    return await _write(ctx, entry, path, params.fingerprint, before, after)


HANDLERS: dict[str, Handler] = {
    "ssh_key.list": list_keys,
    "ssh_key.add": add_key,
    "ssh_key.remove": remove_key,
}
