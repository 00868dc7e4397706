"""``network.interface.create|update|delete`` and ``network.route.create|delete``. I/O: host seam.

One corral file per interface, written atomically through ``ctx.host`` and
applied by the backend's tool: netplan where installed, else NetworkManager
(a keyfile, then ``nmcli``); neither is :class:`OperationSkipped`. The file
is compared before writing, so a second identical run changes and applies
nothing; a failed apply puts the previous file back, so the next boot does
not bring up a configuration that was refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from agent.operations.base import OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host, Ran
from agent.operations.network_files import (
    BadFile,
    keyfile_id,
    parse_keyfile,
    parse_netplan,
    render_keyfile,
    render_netplan,
    with_route,
    without_route,
)
from common.operations.declaration import OperationResult
from common.operations.network_config import (
    KEYFILE,
    NETPLAN_FILE,
    InterfaceCreateParams,
    InterfaceParams,
    InterfaceSettings,
    InterfaceUpdateParams,
    RouteCreateParams,
    RouteDeleteParams,
    RouteSetting,
)

# netplan warns about, and NetworkManager ignores, files others may read.
FILE_MODE = 0o600


@dataclass(frozen=True)
class Backend:
    name: str
    tool: str
    file_template: str
    render: Callable[[str, InterfaceSettings], str]
    parse: Callable[[str, str], InterfaceSettings]

    def file(self, interface: str) -> str:
        return self.file_template.format(name=interface)

    def apply_commands(self, interface: str, present: bool) -> list[list[str]]:
        if self.name == "netplan":
            return [["netplan", "apply"]]
        reload = ["nmcli", "connection", "reload"]
        return (
            [reload, ["nmcli", "connection", "up", keyfile_id(interface)]] if present else [reload]
        )


NETPLAN = Backend("netplan", "netplan", NETPLAN_FILE, render_netplan, parse_netplan)
NETWORKMANAGER = Backend("networkmanager", "nmcli", KEYFILE, render_keyfile, parse_keyfile)


def backend_of(host: Host) -> Backend:
    """netplan where installed, else NetworkManager; neither is OperationSkipped."""
    tool = Path(host.require(NETPLAN.tool, NETWORKMANAGER.tool)).name
    return NETPLAN if tool == NETPLAN.tool else NETWORKMANAGER


@dataclass(frozen=True)
class Current:
    backend: Backend
    interface: str
    text: str | None  # the file's content; None: corral does not configure the interface
    settings: InterfaceSettings | None


def current(host: Host, interface: str) -> Current:
    backend = backend_of(host)
    path = backend.file(interface)
    text = host.read_text(path)
    try:
        settings = None if text is None else backend.parse(interface, text)
    except BadFile as exc:
        raise OperationFailed(f"{path}: {exc}") from None
    return Current(backend, interface, text, settings)


async def _apply(ctx: OperationContext, now: Current, after: str | None) -> None:
    host, path = ctx.host, now.backend.file(now.interface)
    if after is None:
        host.remove_file(path)
    else:
        host.write_file(path, after.encode(), mode=FILE_MODE)
    for argv in now.backend.apply_commands(now.interface, present=after is not None):
        ran = await host.run(argv, check=False)
        if ran.exit_code != 0:
            if now.text is None:
                host.remove_file(path)
            else:
                host.write_file(path, now.text.encode(), mode=FILE_MODE)
            raise OperationFailed(
                f"{' '.join(argv[:2])} exited with {ran.exit_code}: {_complaint(ran)};"
                f" {path} was put back as it was"
            )


def _complaint(ran: Ran) -> str:
    """netplan ends its complaint with the line in question and a caret: keep the error line."""
    for line in ran.stderr.splitlines():
        if "Error" in line or "error" in line:
            return line.strip()
    return ran.reason()


async def put(
    ctx: OperationContext, now: Current, settings: InterfaceSettings | None
) -> OperationResult:
    """Make corral's file for the interface say ``settings`` (None: no file), then apply."""
    after = None if settings is None else now.backend.render(now.interface, settings)
    changed = after != now.text
    if changed and not ctx.dry_run:
        await _apply(ctx, now, after)
    path = now.backend.file(now.interface)
    data = {
        "name": now.interface,
        "file": path,
        "backend": now.backend.name,
        "settings": None if settings is None else msgspec.to_builtins(settings),
        "diff": unified(path, now.text, after),
    }
    return OperationResult(data=data, changed=changed)


def _address(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _normalized(**fields: Any) -> dict[str, Any]:
    """The given fields with addresses written one way, so 2001:DB8::1 equals 2001:db8::1."""
    if fields.get("addresses") is not None:
        fields["addresses"] = [str(ipaddress.ip_interface(a)) for a in fields["addresses"]]
    if fields.get("nameservers") is not None:
        fields["nameservers"] = [_address(a) for a in fields["nameservers"]]
    if fields.get("gateway"):
        fields["gateway"] = _address(fields["gateway"])
    return fields


async def interface_create(params: InterfaceCreateParams, ctx: OperationContext) -> OperationResult:
    now = current(ctx.host, params.name)
    fields = msgspec.structs.asdict(params)
    del fields["name"]
    routes = now.settings.routes if now.settings else []
    wanted = InterfaceSettings(**_normalized(**fields), routes=routes)
    if now.settings is not None and now.settings != wanted:
        raise OperationFailed(
            f"corral already configures {params.name} otherwise"
            f" ({now.backend.file(params.name)}); use network.interface.update"
        )
    return await put(ctx, now, wanted)


def _configured(now: Current, what: str) -> InterfaceSettings:
    if now.settings is None:
        raise OperationFailed(
            f"corral does not configure {now.interface} ({now.backend.file(now.interface)}); {what}"
        )
    return now.settings


async def interface_update(params: InterfaceUpdateParams, ctx: OperationContext) -> OperationResult:
    now = current(ctx.host, params.name)
    settings = _configured(now, "create it with network.interface.create")
    given = {k: v for k, v in msgspec.structs.asdict(params).items() if v is not None}
    del given["name"]
    if given.get("gateway") == "":
        given["gateway"] = None  # "" removes the gateway
    wanted = msgspec.structs.replace(settings, **_normalized(**given))
    return await put(ctx, now, wanted)


async def interface_delete(params: InterfaceParams, ctx: OperationContext) -> OperationResult:
    return await put(ctx, current(ctx.host, params.name), None)


async def route_create(params: RouteCreateParams, ctx: OperationContext) -> OperationResult:
    now = current(ctx.host, params.interface)
    settings = _configured(now, "configure it first with network.interface.create")
    route = RouteSetting(
        to=str(ipaddress.ip_network(params.destination)),
        via=_address(params.gateway),
        metric=params.metric,
    )
    return await put(ctx, now, with_route(settings, route))


async def route_delete(params: RouteDeleteParams, ctx: OperationContext) -> OperationResult:
    now = current(ctx.host, params.interface)
    if now.settings is None:
        return await put(ctx, now, None)  # no file, no route: nothing to do
    destination = str(ipaddress.ip_network(params.destination))
    return await put(ctx, now, without_route(now.settings, destination))
