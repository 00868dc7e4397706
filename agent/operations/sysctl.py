"""The ``sysctl.*`` operations: kernel parameters. Reads /proc/sys live; drop-ins via the host seam.

Live values come from the running kernel's /proc/sys whatever the host
root. Boot-time values come from the drop-ins in systemd-sysctl's order:
files from /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d,
/usr/lib/sysctl.d and /lib/sysctl.d sorted by name (a name in /etc hides
the same name further down), then /etc/sysctl.conf, the last word winning.

``sysctl.set`` keeps one key per file, /etc/sysctl.d/90-corral-<key>.conf,
and applies it with ``sysctl -p <file>``, the tool's own parser and error
messages; the kernel is never written to directly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.host import Host
from common.operations.declaration import OperationResult
from common.operations.sysctl import (
    KeyParams,
    ListParams,
    SetParams,
    dotted,
    drop_in_file,
    key_path,
    normalize,
)

PROC_SYS = Path("/proc/sys")
DROP_IN_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
HEADER = "# Managed by corral (sysctl.set); sysctl.delete removes it.\n"
AFTER_DELETE = "the live value stays as it is until the next boot"


# -- live values -------------------------------------------------------------


def read_live(key: str) -> str | None:
    """The key's live value, or None when the kernel has no such key or will not say."""
    try:
        return normalize((PROC_SYS / key_path(key)).read_text(errors="replace"))
    except OSError:
        return None


def _walk(top: Path) -> Iterator[tuple[str, str]]:
    if top.is_file():
        relative = str(top.relative_to(PROC_SYS))
        found = read_live(relative)
        if found is not None:
            yield dotted(relative), found
        return
    for directory, _, files in os.walk(top):
        for name in files:
            relative = str((Path(directory) / name).relative_to(PROC_SYS))
            # Write-only and privileged keys are left out, as `sysctl -a` does.
            value = read_live(relative)
            if value is not None:
                yield dotted(relative), value


def live_values(prefix: str | None) -> dict[str, str]:
    return dict(_walk(PROC_SYS / key_path(prefix) if prefix else PROC_SYS))


def same(a: str | None, b: str | None) -> bool:
    """Equal as the kernel means it: word by word, numbers by value (``01`` is ``1``)."""
    if a is None or b is None:
        return a is b
    left, right = a.split(), b.split()
    return len(left) == len(right) and all(map(_same_word, left, right))


def _same_word(a: str, b: str) -> bool:
    try:
        return int(a) == int(b)
    except ValueError:
        return a == b


# -- drop-ins ------------------------------------------------------------------


def parse(text: str) -> dict[str, str]:
    """One drop-in's settings, keys dotted, values normalized; a later line wins."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        # A leading '-' only tells systemd-sysctl to ignore a failure.
        found[dotted(key.strip().lstrip("-"))] = normalize(value)
    return found


def drop_in_files(host: Host) -> list[str]:
    """The drop-ins in the order they are applied."""
    by_name: dict[str, str] = {}
    for directory in DROP_IN_DIRS:
        local = host.file(directory)
        if not local.is_dir():
            continue
        for entry in local.iterdir():
            if entry.name.endswith(".conf") and entry.name not in by_name:
                by_name[entry.name] = f"{directory}/{entry.name}"
    ordered = [by_name[name] for name in sorted(by_name)]
    return [*ordered, SYSCTL_CONF] if host.file(SYSCTL_CONF).is_file() else ordered


def configured(host: Host) -> dict[str, tuple[str, str]]:
    """Each key the drop-ins set at boot: (value, the file whose setting wins)."""
    found: dict[str, tuple[str, str]] = {}
    for path in drop_in_files(host):
        for key, value in parse(host.read_text(path) or "").items():
            found[key] = (value, path)
    return found


def corral_value(host: Host, key: str) -> str | None:
    text = host.read_text(drop_in_file(key))
    return None if text is None else parse(text).get(dotted(key))


def _under(key: str, prefix: str | None) -> bool:
    return prefix is None or key == dotted(prefix) or key.startswith(dotted(prefix) + ".")


# -- handlers ------------------------------------------------------------------


async def list_keys(params: ListParams, ctx: OperationContext) -> OperationResult:
    live = await asyncio.to_thread(live_values, params.prefix)
    boot = {k: v for k, v in configured(ctx.host).items() if _under(k, params.prefix)}
    entries = []
    for key in sorted(live.keys() | boot.keys()):
        entry: dict[str, str] = {"key": key}
        if key in live:
            entry["value"] = live[key]
        if key in boot:
            entry["configured"], entry["set_by"] = boot[key]
        entries.append(entry)
    return OperationResult(data={"entries": entries})


def _require_key(key: str) -> str:
    value = read_live(key)
    if value is None:
        raise OperationFailed(
            f"the kernel has no readable key {dotted(key)} (/proc/sys/{key_path(key)})"
        )
    return value


async def get(params: KeyParams, ctx: OperationContext) -> OperationResult:
    value = _require_key(params.key)
    boot = configured(ctx.host).get(dotted(params.key))
    return OperationResult(
        data={
            "key": dotted(params.key),
            "value": value,
            "drop_in": corral_value(ctx.host, params.key),
            "drop_in_file": drop_in_file(params.key),
            "configured": boot[0] if boot else None,
            "set_by": boot[1] if boot else None,
        }
    )


def _applied_value(output: str, key: str) -> str | None:
    """What `sysctl -p` says it set the key to (it prints ``key = value`` per line)."""
    return parse(output).get(key)


async def set_key(params: SetParams, ctx: OperationContext) -> OperationResult:
    host, key, value = ctx.host, dotted(params.key), params.text
    path = drop_in_file(key)
    host.require("sysctl")
    live = _require_key(key)
    before = {"live": live, "drop_in": corral_value(host, key)}
    written = host.write_file(path, f"{HEADER}{key} = {value}\n".encode(), dry_run=ctx.dry_run)
    apply = not same(live, value)
    after_live = value if apply else live
    if apply and not ctx.dry_run:
        try:
            ran = await host.run(["sysctl", "-p", str(host.file(path))])
        except OperationFailed:
            _put_back(host, path, written.before)
            raise
        after_live = _applied_value(ran.stdout, key) or value
    return OperationResult(
        data={
            "key": key,
            "value": value,
            "drop_in_file": path,
            "applied": apply and not ctx.dry_run,
            "diff": {"before": before, "after": {"live": after_live, "drop_in": value}},
        },
        changed=written.changed or apply,
    )


def _put_back(host: Host, path: str, before: bytes | None) -> None:
    """Leave no drop-in that the kernel refused behind to fail again at boot."""
    if before is None:
        host.remove_file(path)
    else:
        host.write_file(path, before)


async def delete(params: KeyParams, ctx: OperationContext) -> OperationResult:
    key = dotted(params.key)
    path = drop_in_file(key)
    had = corral_value(ctx.host, key)
    removed = ctx.host.remove_file(path, dry_run=ctx.dry_run) is not None
    live = read_live(key)
    return OperationResult(
        data={
            "key": key,
            "drop_in_file": path,
            "removed": removed,
            "note": f"{AFTER_DELETE}: {live}" if live is not None else AFTER_DELETE,
            "diff": {
                "before": {"live": live, "drop_in": had},
                "after": {"live": live, "drop_in": None},
            },
        },
        changed=removed,
    )


HANDLERS: dict[str, Handler] = {
    "sysctl.list": list_keys,
    "sysctl.get": get,
    "sysctl.set": set_key,
    "sysctl.delete": delete,
}
