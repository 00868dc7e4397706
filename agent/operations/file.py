"""The ``file.*`` operations: deploy, check and remove files. I/O: the host's files, NATS.

Every file is reached through the host seam (``ctx.host``). ``file.deploy``
compares before it writes and writes atomically (``Host.write_file``), then
records the SHA-256 it deployed in :data:`RECORDS`, a JSON file under the
host root written the same way; ``file.status`` compares against that record
and ``file.undeploy`` removes the file and the record. Object content comes
through ``ctx.objects`` (agent/objects.py) and is written only if its
SHA-256 is the one the job names.

The record is read, changed and written back with no ``await`` in between,
so two deploys running at once on this agent cannot lose each other's entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from agent.operations.accounts import Accounts, read_accounts
from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host
from agent.operations.templates import render
from common.operations.declaration import OperationResult
from common.operations.file import DeployParams, FileState, PathParams

RECORDS = "/var/lib/corral/files.json"


def read_records(host: Host) -> dict[str, str]:
    """Path -> SHA-256 of what corral deployed there."""
    raw = host.read_bytes(RECORDS)
    if raw is None:
        return {}
    try:
        files = json.loads(raw)["files"]
        return {str(path): str(entry["sha256"]) for path, entry in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OperationFailed(f"{RECORDS} is not a record corral wrote: {exc}") from None


def write_records(host: Host, records: dict[str, str]) -> None:
    body = {"files": {path: {"sha256": sha} for path, sha in sorted(records.items())}}
    host.write_file(RECORDS, json.dumps(body, indent=1).encode() + b"\n", mode=0o600)


async def _object_content(ctx: OperationContext, name: str, sha256: str) -> bytes:
    if ctx.objects is None:
        raise OperationFailed("this agent has no object store to fetch objects from")
    content = await ctx.objects.get(name)
    found = hashlib.sha256(content).hexdigest()
    if found != sha256:
        raise OperationFailed(f"object {name!r} has sha256 {found}, not {sha256}; nothing written")
    return content


async def _content(params: DeployParams, ctx: OperationContext) -> bytes:
    if params.content is not None:
        raw = params.content.encode()
    else:
        # DeployParams made sure both are set.
        raw = await _object_content(ctx, params.object or "", params.sha256 or "")
    if not params.template:
        return raw
    try:
        source = raw.decode()
    except UnicodeDecodeError:
        raise OperationFailed("template: the content is not UTF-8 text") from None
    return (await render(source, ctx)).encode()


def _not_the_records(path: str) -> None:
    if path == RECORDS:
        raise OperationFailed(f"{RECORDS} is corral's own record of deployed files")


async def deploy(params: DeployParams, ctx: OperationContext) -> OperationResult:
    _not_the_records(params.path)
    content = await _content(params, ctx)
    uid = None if params.owner is None else read_accounts(ctx.host).uid_of(params.owner)
    gid = None if params.group is None else read_accounts(ctx.host).gid_of(params.group)
    written = ctx.host.write_file(
        params.path,
        content,
        mode=None if params.mode is None else int(params.mode, 8),
        uid=uid,
        gid=gid,
        dry_run=ctx.dry_run,
    )
    sha256 = hashlib.sha256(content).hexdigest()
    if not ctx.dry_run:
        records = read_records(ctx.host)
        if records.get(params.path) != sha256:
            write_records(ctx.host, {**records, params.path: sha256})
    data = {
        "path": params.path,
        "changed": written.changed,
        "sha256": sha256,
        "diff": unified(params.path, written.before, content, ctx.max_output_bytes),
    }
    return OperationResult(changed=written.changed, data=data)


def _state(current: str | None, recorded: str | None) -> FileState:
    if current is None:
        return "absent"
    if recorded is None:
        return "unmanaged"
    return "deployed" if current == recorded else "drifted"


async def status(params: PathParams, ctx: OperationContext) -> OperationResult:
    content = ctx.host.read_bytes(params.path)
    current = None if content is None else hashlib.sha256(content).hexdigest()
    recorded = read_records(ctx.host).get(params.path)
    data: dict[str, Any] = {
        "path": params.path,
        "state": _state(current, recorded),
        "sha256": current,
        "deployed_sha256": recorded,
        "mode": None,
        "owner": None,
        "group": None,
    }
    if content is not None:
        data.update(_ownership(ctx.host, params.path))
    return OperationResult(data=data)


def _ownership(host: Host, path: str) -> dict[str, str]:
    try:
        info = os.stat(host.file(path))
    except OSError as exc:
        raise OperationFailed(f"cannot stat {path}: {exc.strerror or exc}") from None
    names = _accounts(host)
    return {
        "mode": f"{info.st_mode & 0o7777:04o}",
        "owner": names.user_of(info.st_uid) if names else str(info.st_uid),
        "group": (names.group_of(info.st_gid) if names else None) or str(info.st_gid),
    }


def _accounts(host: Host) -> Accounts | None:
    """The host's accounts, or None where it has no /etc/passwd: ids then show as numbers."""
    try:
        return read_accounts(host)
    except OperationFailed:
        return None


async def undeploy(params: PathParams, ctx: OperationContext) -> OperationResult:
    _not_the_records(params.path)
    records = read_records(ctx.host)
    recorded = records.pop(params.path, None)
    exists = ctx.host.read_bytes(params.path) is not None
    if exists and recorded is None:
        raise OperationFailed(f"{params.path} was not deployed by corral; nothing removed")
    before = ctx.host.remove_file(params.path, dry_run=ctx.dry_run) if exists else None
    if recorded is not None and not ctx.dry_run:
        write_records(ctx.host, records)
    data = {
        "path": params.path,
        "changed": before is not None,
        "diff": unified(params.path, before, None, ctx.max_output_bytes),
    }
    return OperationResult(changed=before is not None, data=data)


HANDLERS: dict[str, Handler] = {
    "file.deploy": deploy,
    "file.status": status,
    "file.undeploy": undeploy,
}
