"""systemctl as the service handlers use it: the calls, and its output parsed. I/O through the host.

Read calls (``show``, ``list-units``, ``list-unit-files``) run on dry runs
too; the handlers run the mutating ones. Unit names reach systemctl after
``--`` (they are validated not to begin with ``-`` as well).

``list-units`` and ``list-unit-files`` are asked for JSON (``--output=json``,
systemd 246 and later); an older systemctl takes ``-o json`` for the journal
only and prints its table, so the plain table is asked for and parsed then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.operations.base import OperationContext, OperationFailed

# What service.get reports, and what the mutations look at.
PROPERTIES = (
    "Id", "Description", "LoadState", "ActiveState", "SubState", "UnitFileState",
    "UnitFilePreset", "MainPID", "FragmentPath", "DropInPaths", "Result", "NRestarts",
    "ActiveEnterTimestamp", "MemoryCurrent", "CanReload", "NeedDaemonReload",
)  # fmt: skip
# systemd prints an unset unsigned value as this, or as "[not set]" (v244 and later).
_UNSET = {"", "[not set]", "18446744073709551615"}


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show``'s ``Key=Value`` lines (one unit) as a dict."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key] = value
    return found


def number(value: str) -> int | None:
    return None if value in _UNSET else int(value)


@dataclass(frozen=True)
class Listed:
    """One row of ``list-units`` or ``list-unit-files``."""

    name: str
    fields: dict[str, str]


def parse_units_json(text: str) -> list[Listed]:
    """``list-units --output=json``: ``[{"unit", "load", "active", "sub", "description"}]``."""
    rows: list[dict[str, Any]] = json.loads(text)
    return [Listed(row["unit"], {k: str(v) for k, v in row.items()}) for row in rows]


def parse_units_plain(text: str) -> list[Listed]:
    """``list-units --plain --no-legend``: ``UNIT LOAD ACTIVE SUB DESCRIPTION`` per line."""
    rows = []
    for line in text.splitlines():
        # Without --plain systemctl marks failed or not-found units with a leading "●".
        cells = line.strip().removeprefix("●").split(None, 4)
        if len(cells) >= 4:
            unit, load, active, sub = cells[:4]
            description = cells[4] if len(cells) == 5 else ""
            fields = {"load": load, "active": active, "sub": sub, "description": description}
            rows.append(Listed(unit, fields))
    return rows


def parse_unit_files_json(text: str) -> dict[str, str]:
    """``list-unit-files --output=json``: the state of each unit file by name."""
    rows: list[dict[str, Any]] = json.loads(text)
    # The column's JSON name differs between systemd versions.
    return {str(row.get("unit_file", row.get("unit file"))): str(row["state"]) for row in rows}


def parse_unit_files_plain(text: str) -> dict[str, str]:
    """``list-unit-files --plain --no-legend``: ``UNIT-FILE STATE [PRESET]`` per line."""
    states = {}
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 2:
            states[cells[0]] = cells[1]
    return states


def begin_systemctl(ctx: OperationContext) -> None:
    """Skip, before anything runs, a host without a running systemd or without systemctl."""
    ctx.host.require_systemd()
    ctx.host.require("systemctl")


async def show(ctx: OperationContext, unit: str) -> dict[str, str]:
    ran = await ctx.host.run(
        ["systemctl", "show", "--no-pager", f"--property={','.join(PROPERTIES)}", "--", unit]
    )
    return parse_show(ran.stdout)


async def known(ctx: OperationContext, unit: str) -> dict[str, str]:
    """``show``, or :class:`OperationFailed` for a unit systemd has never heard of."""
    properties = await show(ctx, unit)
    if properties.get("LoadState") == "not-found":
        raise OperationFailed(f"{unit}: no such unit")
    return properties


async def call(ctx: OperationContext, verb: str, unit: str) -> None:
    """A mutating call on one unit, waiting for its job to finish."""
    await ctx.host.run(["systemctl", verb, "--no-ask-password", "--no-pager", "--", unit])


async def daemon_reload(ctx: OperationContext) -> None:
    await ctx.host.run(["systemctl", "daemon-reload", "--no-ask-password"])


async def listing(ctx: OperationContext, what: str) -> tuple[str, bool]:
    """``list-units`` or ``list-unit-files`` of services: the output, and whether it is JSON."""
    base = ["systemctl", what, "--type=service", "--no-pager"]
    if what == "list-units":
        base.append("--all")
    ran = await ctx.host.run([*base, "--output=json"])
    if ran.stdout.lstrip().startswith("["):
        return ran.stdout, True
    ran = await ctx.host.run([*base, "--plain", "--no-legend", "--full"])
    return ran.stdout, False
