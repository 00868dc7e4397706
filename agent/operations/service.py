"""The ``service.*`` operations: systemd services and their unit files. I/O through the host seam.

Everything is skipped where systemd is not running (no /run/systemd/system
under the host root) or systemctl is missing, dry runs included.

- State changes read the unit's state with ``systemctl show`` first and act
  only when it differs: ``start`` of an active unit and ``stop`` of an
  inactive one are unchanged, as in systemd itself; ``restart`` and
  ``reload`` always act. ``enable``/``disable`` compare ``UnitFileState``.
  ``diff`` is ``{before, after}`` of the state they change; a dry run
  predicts ``after`` (``active``, ``inactive``, ``enabled``, ``disabled``).
- Unit files live in /etc/systemd/system and are written atomically through
  the host seam, compared first, then ``systemctl daemon-reload``. A file
  that is unchanged but that systemd has not loaded yet (``NeedDaemonReload``:
  an earlier reload failed) is reloaded again, so a retry converges.
  Deleting a unit file stops and disables the unit first: a unit left
  running without its file cannot be managed any more.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from typing import Any

from agent.operations import systemctl
from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.systemctl import begin_systemctl, number
from common.operations.declaration import OperationResult
from common.operations.service import (
    SUFFIX,
    ServiceListParams,
    UnitFileName,
    UnitFileParams,
    UnitParams,
    service_unit,
)

UNIT_DIR = "/etc/systemd/system"
RUNNING = frozenset({"active", "activating", "reloading"})
STOPPED = frozenset({"inactive", "failed"})
# Unit file states `systemctl enable` makes `enabled`, and those `disable` undoes.
ENABLEABLE = frozenset({"disabled", "enabled-runtime", "linked", "linked-runtime"})
DISABLEABLE = frozenset({"enabled", "enabled-runtime", "linked", "linked-runtime"})


# -- reads -----------------------------------------------------------------


async def list_services(params: ServiceListParams, ctx: OperationContext) -> OperationResult:
    begin_systemctl(ctx)
    services = await _services(ctx)
    chosen = [
        services[name]
        for name in sorted(services)
        if (params.pattern is None or fnmatchcase(name, params.pattern))
        and (params.state is None or services[name]["active_state"] == params.state)
    ]
    return OperationResult(data={"services": chosen})


async def _services(ctx: OperationContext) -> dict[str, dict[str, Any]]:
    """The loaded service units, then the service unit files systemd has not loaded."""
    text, is_json = await systemctl.listing(ctx, "list-units")
    units = systemctl.parse_units_json(text) if is_json else systemctl.parse_units_plain(text)
    text, is_json = await systemctl.listing(ctx, "list-unit-files")
    files = (
        systemctl.parse_unit_files_json(text) if is_json else systemctl.parse_unit_files_plain(text)
    )
    services = {
        row.name: {
            "name": row.name,
            "description": row.fields.get("description", ""),
            "load_state": row.fields.get("load"),
            "active_state": row.fields.get("active", ""),
            "sub_state": row.fields.get("sub", ""),
            "unit_file_state": files.get(row.name, files.get(_template(row.name) or "")),
        }
        for row in units
        if row.name.endswith(SUFFIX)
    }
    for name, state in files.items():
        # Templates are not units; their instances are listed when loaded.
        if name.endswith(SUFFIX) and name not in services and "@." not in name:
            services[name] = {
                "name": name,
                "description": "",
                "load_state": None,
                "active_state": "inactive",
                "sub_state": "dead",
                "unit_file_state": state,
            }
    return services


def _template(unit: str) -> str | None:
    """``getty@tty1.service`` -> ``getty@.service``."""
    prefix, at, _ = unit.partition("@")
    return f"{prefix}@{SUFFIX}" if at else None


async def get_service(params: UnitParams, ctx: OperationContext) -> OperationResult:
    begin_systemctl(ctx)
    unit = service_unit(params.name)
    return OperationResult(data=detail(unit, await systemctl.known(ctx, unit)))


def detail(unit: str, shown: dict[str, str]) -> dict[str, Any]:
    """service.get's answer from ``systemctl show``'s properties."""
    return {
        "name": shown.get("Id") or unit,
        "description": shown.get("Description", ""),
        "load_state": shown.get("LoadState") or None,
        "active_state": shown.get("ActiveState", ""),
        "sub_state": shown.get("SubState", ""),
        "unit_file_state": shown.get("UnitFileState") or None,
        "unit_file_preset": shown.get("UnitFilePreset") or None,
        "main_pid": number(shown.get("MainPID", "")) or None,  # 0: none
        "fragment_path": shown.get("FragmentPath") or None,
        "drop_in_paths": shown.get("DropInPaths", "").split(),
        "result": shown.get("Result", ""),
        "restarts": number(shown.get("NRestarts", "")),
        "active_since": _timestamp(shown.get("ActiveEnterTimestamp", "")),
        "memory": number(shown.get("MemoryCurrent", "")),
    }


def _timestamp(value: str) -> str | None:
    # Never: empty (systemd 252), or "n/a" (later versions).
    return None if value in ("", "n/a") else value


# -- state changes -----------------------------------------------------------


def _changed(unit: str, before: str, after: str) -> dict[str, Any]:
    return {"name": unit, "diff": {"before": before, "after": after}}


async def _act(
    ctx: OperationContext, verb: str, unit: str, prop: str, before: str, after: str
) -> OperationResult:
    """Run ``systemctl <verb>`` (not on a dry run) and report ``prop`` before and after."""
    if ctx.dry_run:
        return OperationResult(changed=True, data=_changed(unit, before, after))
    await systemctl.call(ctx, verb, unit)
    now = (await systemctl.show(ctx, unit)).get(prop, "")
    return OperationResult(changed=True, data=_changed(unit, before, now))


def _active(verb: str, unchanged_in: frozenset[str], after: str) -> Handler:
    """A handler that changes the active state, unless it is in ``unchanged_in`` already."""

    async def handle(params: UnitParams, ctx: OperationContext) -> OperationResult:
        begin_systemctl(ctx)
        unit = service_unit(params.name)
        shown = await systemctl.known(ctx, unit)
        state = shown.get("ActiveState", "")
        if verb == "reload" and state not in RUNNING:
            raise OperationFailed(f"{unit} is {state}: only a running unit reloads")
        if verb == "reload" and shown.get("CanReload") == "no":
            raise OperationFailed(f"{unit} cannot reload (CanReload=no); restart it instead")
        if state in unchanged_in:
            return OperationResult(changed=False, data=_changed(unit, state, state))
        return await _act(ctx, verb, unit, "ActiveState", state, after)

    return handle


async def enable_service(params: UnitParams, ctx: OperationContext) -> OperationResult:
    begin_systemctl(ctx)
    unit = service_unit(params.name)
    state = (await systemctl.known(ctx, unit)).get("UnitFileState", "")
    if state == "enabled":
        return OperationResult(changed=False, data=_changed(unit, state, state))
    if state not in ENABLEABLE:
        raise OperationFailed(f"{unit} cannot be enabled: its unit file state is {state or 'none'}")
    return await _act(ctx, "enable", unit, "UnitFileState", state, "enabled")


async def disable_service(params: UnitParams, ctx: OperationContext) -> OperationResult:
    begin_systemctl(ctx)
    unit = service_unit(params.name)
    state = (await systemctl.known(ctx, unit)).get("UnitFileState", "")
    if state not in DISABLEABLE:
        return OperationResult(changed=False, data=_changed(unit, state, state))
    return await _act(ctx, "disable", unit, "UnitFileState", state, "disabled")


# -- unit files --------------------------------------------------------------


def _masked(ctx: OperationContext, path: str) -> bool:
    local = ctx.host.file(path)
    return local.is_symlink() and os.readlink(local) == "/dev/null"


async def _needs_reload(ctx: OperationContext, unit: str) -> bool:
    if "@." in unit:  # a template is never loaded itself
        return False
    return (await systemctl.show(ctx, unit)).get("NeedDaemonReload") == "yes"


async def _put_unit(params: UnitFileParams, ctx: OperationContext, *, new: bool) -> OperationResult:
    begin_systemctl(ctx)
    unit = service_unit(params.name)
    path = f"{UNIT_DIR}/{unit}"
    if _masked(ctx, path):
        raise OperationFailed(f"{unit} is masked ({path} -> /dev/null); unmask it first")
    before = ctx.host.read_bytes(path)
    content = params.content.encode()
    if new and before not in (None, content):
        raise OperationFailed(f"{path} exists with other content; service.unit.update replaces it")
    if not new and before is None:
        raise OperationFailed(f"{path} does not exist; service.unit.create writes it")
    written = ctx.host.write_file(path, content, mode=0o644 if new else None, dry_run=ctx.dry_run)
    changed = written.changed or await _needs_reload(ctx, unit)
    if changed and not ctx.dry_run:
        await systemctl.daemon_reload(ctx)
    data = {"name": unit, "path": path, "diff": unified(path, before, content)}
    return OperationResult(changed=changed, data=data)


async def create_unit(params: UnitFileParams, ctx: OperationContext) -> OperationResult:
    return await _put_unit(params, ctx, new=True)


async def update_unit(params: UnitFileParams, ctx: OperationContext) -> OperationResult:
    return await _put_unit(params, ctx, new=False)


async def delete_unit(params: UnitFileName, ctx: OperationContext) -> OperationResult:
    begin_systemctl(ctx)
    unit = service_unit(params.name)
    path = f"{UNIT_DIR}/{unit}"
    before = ctx.host.read_bytes(path)
    if before is None:
        data = {"name": unit, "path": path, "diff": "", "stopped": False, "disabled": False}
        return OperationResult(changed=False, data=data)
    shown = {} if "@." in unit else await systemctl.show(ctx, unit)
    stop = shown.get("ActiveState") in RUNNING
    disable = shown.get("UnitFileState") in DISABLEABLE
    if not ctx.dry_run:
        if stop:
            await systemctl.call(ctx, "stop", unit)
        if disable:
            await systemctl.call(ctx, "disable", unit)
        ctx.host.remove_file(path)
        await systemctl.daemon_reload(ctx)
    data = {
        "name": unit,
        "path": path,
        "diff": unified(path, before, None),
        "stopped": stop,
        "disabled": disable,
    }
    return OperationResult(changed=True, data=data)


HANDLERS: dict[str, Handler] = {
    "service.list": list_services,
    "service.get": get_service,
    "service.start": _active("start", RUNNING, "active"),
    "service.stop": _active("stop", STOPPED, "inactive"),
    "service.restart": _active("restart", frozenset(), "active"),
    "service.reload": _active("reload", frozenset(), "active"),
    "service.enable": enable_service,
    "service.disable": disable_service,
    "service.unit.create": create_unit,
    "service.unit.update": update_unit,
    "service.unit.delete": delete_unit,
}
