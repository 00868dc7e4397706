"""The ``network.*`` operations: interface and route reads here, and the family's handler table.

I/O. Interfaces and routes are the running kernel's, read live with ``ip
-j`` through the host seam (``ctx.host.run``), or, for interfaces on a host
without ``ip``, from /sys/class/net. DNS (network_dns.py), ping
(network_ping.py) and configuration (network_config.py) have their own
modules.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from agent.operations import network_config, network_dns, network_ping
from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.network import RouteGetParams
from common.operations.network_config import InterfaceParams

SYS_CLASS_NET = Path("/sys/class/net")  # kernel state: read live, whatever the root
# include/uapi/linux/if.h: the flags /sys/class/net/<if>/flags holds, as `ip` names them.
IFF_FLAGS = (
    (0x1, "UP"), (0x2, "BROADCAST"), (0x8, "LOOPBACK"), (0x10, "POINTOPOINT"),
    (0x40, "RUNNING"), (0x80, "NOARP"), (0x100, "PROMISC"), (0x1000, "MULTICAST"),
)  # fmt: skip


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text or "[]")
    except ValueError:
        raise OperationFailed(f"{what} printed no JSON (iproute2 too old for -j?)") from None


def interface_from_ip(entry: dict[str, Any]) -> dict[str, Any]:
    """One interface of ``ip -j addr``'s output, in the result's terms."""
    addresses = [
        {
            "family": a["family"],
            "address": a["local"],
            "prefixlen": a["prefixlen"],
            "scope": a.get("scope"),
        }
        for a in entry.get("addr_info", [])
        if a.get("family") in ("inet", "inet6") and "local" in a
    ]
    return {
        "name": entry["ifname"],
        "index": entry["ifindex"],
        "state": entry.get("operstate", "UNKNOWN"),
        "mac": entry.get("address"),
        "mtu": entry.get("mtu", 0),
        "flags": list(entry.get("flags", [])),
        "addresses": addresses,
    }


def _sys(directory: Path, name: str) -> str | None:
    try:
        return (directory / name).read_text().strip()
    except OSError:  # e.g. EINVAL reading carrier of an interface that is down
        return None


def interface_from_sys(directory: Path) -> dict[str, Any]:
    flags = int(_sys(directory, "flags") or "0", 16)
    names = [name for bit, name in IFF_FLAGS if flags & bit]
    if _sys(directory, "carrier") == "1":
        names.append("LOWER_UP")
    return {
        "name": directory.name,
        "index": int(_sys(directory, "ifindex") or 0),
        "state": (_sys(directory, "operstate") or "unknown").upper(),
        "mac": _sys(directory, "address") or None,
        "mtu": int(_sys(directory, "mtu") or 0),
        "flags": names,
        "addresses": [],
    }


def sysfs_interfaces(name: str | None = None) -> list[dict[str, Any]]:
    """Interfaces (just ``name``'s, when given) from /sys/class/net, without addresses."""
    found = sorted(SYS_CLASS_NET.iterdir()) if name is None else [SYS_CLASS_NET / name]
    return [interface_from_sys(d) for d in found if d.exists()]


async def _interfaces(host: Host, name: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Interfaces (just ``name``'s, when given) and where they were read."""
    if host.which("ip") is None:
        return sysfs_interfaces(name), "sysfs"
    argv = ["ip", "-j", "addr"] + (["show", "dev", name] if name else [])
    ran = await host.run(argv, check=False)
    if ran.exit_code != 0:
        if name is not None and "does not exist" in ran.stderr:
            return [], "ip"
        raise OperationFailed(f"ip addr exited with {ran.exit_code}: {ran.reason()}")
    # Some iproute2 versions print an empty object for an address of a vanished link.
    entries = [e for e in _json(ran.stdout, "ip addr") if "ifname" in e]
    return [interface_from_ip(e) for e in entries], "ip"


async def interface_list(params: NoParams, ctx: OperationContext) -> OperationResult:
    interfaces, source = await _interfaces(ctx.host)
    return OperationResult(data={"interfaces": interfaces, "source": source})


async def interface_get(params: InterfaceParams, ctx: OperationContext) -> OperationResult:
    interfaces, _ = await _interfaces(ctx.host, params.name)
    if not interfaces:
        raise OperationFailed(f"no interface named {params.name}")
    return OperationResult(data=interfaces[0])


_ROUTE_FIELDS = {
    "gateway": "gateway",
    "dev": "device",
    "prefsrc": "source",
    "protocol": "protocol",
    "scope": "scope",
    "metric": "metric",
    "type": "type",
}


def route_from_ip(entry: dict[str, Any], family: str) -> dict[str, Any]:
    """One route of ``ip -j route``'s output, in the result's terms."""
    route = {"family": family, "destination": entry["dst"]}
    route.update({ours: entry[theirs] for theirs, ours in _ROUTE_FIELDS.items() if theirs in entry})
    return route


async def route_list(params: NoParams, ctx: OperationContext) -> OperationResult:
    routes = []
    for flag, family in (("-4", "inet"), ("-6", "inet6")):
        ran = await ctx.host.run(["ip", "-j", flag, "route"])
        routes += [route_from_ip(e, family) for e in _json(ran.stdout, "ip route")]
    return OperationResult(data={"routes": routes})


async def route_get(params: RouteGetParams, ctx: OperationContext) -> OperationResult:
    family = "inet" if ipaddress.ip_address(params.destination).version == 4 else "inet6"
    ran = await ctx.host.run(["ip", "-j", "route", "get", params.destination])
    entries = _json(ran.stdout, "ip route get")
    if not entries:
        raise OperationFailed(f"no route to {params.destination}")
    return OperationResult(data=route_from_ip(entries[0], family))


HANDLERS: dict[str, Handler] = {
    "network.dns.get": network_dns.dns_get,
    "network.dns.update": network_dns.dns_update,
    "network.ping": network_ping.ping,
    "network.interface.list": interface_list,
    "network.interface.get": interface_get,
    "network.interface.create": network_config.interface_create,
    "network.interface.update": network_config.interface_update,
    "network.interface.delete": network_config.interface_delete,
    "network.route.list": route_list,
    "network.route.get": route_get,
    "network.route.create": network_config.route_create,
    "network.route.delete": network_config.route_delete,
}
