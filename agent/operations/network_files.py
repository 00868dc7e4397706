"""corral's per-interface network files, netplan YAML and NetworkManager keyfile. Pure: no I/O.

Both hold one :class:`InterfaceSettings` and read back what they wrote:
corral owns these files whole (a header says so), so a hand edit that
breaks them is reported rather than guessed at. The default route is the
settings' ``gateway``; other routes are ``routes``.
"""

from __future__ import annotations

import configparser
import ipaddress
import uuid
from typing import Any

import msgspec
import yaml

from common.operations.network_config import InterfaceSettings, RouteSetting

HEADER = "# Written by corral (network.interface.*, network.route.*); changes here are replaced.\n"


class BadFile(ValueError):
    """corral's file no longer says something corral can read; the message says what."""


def _version(address: str) -> int:
    return ipaddress.ip_interface(address).version


# -- netplan ------------------------------------------------------------------


def render_netplan(name: str, settings: InterfaceSettings) -> str:
    interface: dict[str, Any] = {"dhcp4": settings.dhcp4}
    if settings.addresses:
        interface["addresses"] = list(settings.addresses)
    routes: list[dict[str, Any]] = []
    if settings.gateway:
        routes.append({"to": "default", "via": settings.gateway})
    for route in settings.routes:
        metric = {} if route.metric is None else {"metric": route.metric}
        routes.append({"to": route.to, "via": route.via, **metric})
    if routes:
        interface["routes"] = routes
    if settings.mtu is not None:
        interface["mtu"] = settings.mtu
    if settings.nameservers:
        interface["nameservers"] = {"addresses": list(settings.nameservers)}
    document = {"network": {"version": 2, "ethernets": {name: interface}}}
    return HEADER + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def parse_netplan(name: str, text: str) -> InterfaceSettings:
    try:
        document = yaml.safe_load(text)
        interface = document["network"]["ethernets"][name]
        routes = interface.get("routes", [])
        gateways = [r["via"] for r in routes if r.get("to") == "default"]
        return msgspec.convert(
            {
                "addresses": interface.get("addresses", []),
                "gateway": gateways[0] if gateways else None,
                "dhcp4": interface.get("dhcp4", False),
                "mtu": interface.get("mtu"),
                "nameservers": interface.get("nameservers", {}).get("addresses", []),
                "routes": [r for r in routes if r.get("to") != "default"],
            },
            InterfaceSettings,
        )
    except (yaml.YAMLError, TypeError, KeyError, AttributeError, msgspec.ValidationError) as exc:
        raise BadFile(f"not corral's netplan layout for {name}: {exc}") from None


# -- NetworkManager keyfile ---------------------------------------------------


def _keyfile_parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    return parser


def _ip_section(settings: InterfaceSettings, version: int) -> dict[str, str]:
    addresses = [a for a in settings.addresses if _version(a) == version]
    dhcp = version == 4 and settings.dhcp4
    section = {"method": "auto" if dhcp else "manual" if addresses else "disabled"}
    if version == 6 and section["method"] == "disabled":
        section["method"] = "ignore"  # NetworkManager's word for IPv6 left alone
    for i, address in enumerate(addresses, start=1):
        section[f"address{i}"] = address
    if settings.gateway and ipaddress.ip_address(settings.gateway).version == version:
        section["gateway"] = settings.gateway
    servers = [s for s in settings.nameservers if ipaddress.ip_address(s).version == version]
    if servers:
        section["dns"] = "".join(f"{s};" for s in servers)
    routes = [r for r in settings.routes if ipaddress.ip_network(r.to).version == version]
    for i, route in enumerate(routes, start=1):
        metric = "" if route.metric is None else f",{route.metric}"
        section[f"route{i}"] = f"{route.to},{route.via}{metric}"
    return section


def keyfile_id(name: str) -> str:
    return f"corral-{name}"


def render_keyfile(name: str, settings: InterfaceSettings) -> str:
    parser = _keyfile_parser()
    parser["connection"] = {
        "id": keyfile_id(name),
        # Stable per interface, so a rewrite is the same connection to NetworkManager.
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"corral:network:{name}")),
        "type": "ethernet",
        "interface-name": name,
    }
    parser["ethernet"] = {} if settings.mtu is None else {"mtu": str(settings.mtu)}
    parser["ipv4"] = _ip_section(settings, 4)
    parser["ipv6"] = _ip_section(settings, 6)
    lines = [HEADER]
    for section in parser.sections():
        lines.append(f"[{section}]\n")
        lines.extend(f"{key}={value}\n" for key, value in parser[section].items())
        lines.append("\n")
    return "".join(lines).rstrip("\n") + "\n"


def _numbered(section: configparser.SectionProxy, prefix: str) -> list[str]:
    """The values of ``<prefix>1``, ``<prefix>2``... in number order."""
    found = []
    for key, value in section.items():
        number = key.removeprefix(prefix)
        if key.startswith(prefix) and number.isdigit():
            found.append((int(number), value))
    return [value for _, value in sorted(found)]


def _routes(section: configparser.SectionProxy) -> list[dict[str, Any]]:
    routes = []
    for value in _numbered(section, "route"):
        to, via, *metric = value.split(",")
        routes.append({"to": to, "via": via, "metric": int(metric[0]) if metric else None})
    return routes


def parse_keyfile(name: str, text: str) -> InterfaceSettings:
    parser = _keyfile_parser()
    try:
        parser.read_string(text)
        ipv4, ipv6 = parser["ipv4"], parser["ipv6"]
        mtu = parser["ethernet"].get("mtu")
        gateways = [g for g in (ipv4.get("gateway"), ipv6.get("gateway")) if g]
        servers = [s for part in (ipv4, ipv6) for s in part.get("dns", "").split(";") if s]
        return msgspec.convert(
            {
                "addresses": _numbered(ipv4, "address") + _numbered(ipv6, "address"),
                "gateway": gateways[0] if gateways else None,
                "dhcp4": ipv4.get("method") == "auto",
                "mtu": int(mtu) if mtu else None,
                "nameservers": servers,
                "routes": _routes(ipv4) + _routes(ipv6),
            },
            InterfaceSettings,
        )
    except (configparser.Error, KeyError, ValueError, msgspec.ValidationError) as exc:
        raise BadFile(f"not corral's keyfile layout for {name}: {exc}") from None


def with_route(settings: InterfaceSettings, route: RouteSetting) -> InterfaceSettings:
    """``settings`` with ``route`` in place of any route to the same destination, else last."""
    routes = [route if r.to == route.to else r for r in settings.routes]
    if route not in routes:
        routes.append(route)
    return msgspec.structs.replace(settings, routes=routes)


def without_route(settings: InterfaceSettings, destination: str) -> InterfaceSettings:
    return msgspec.structs.replace(
        settings, routes=[r for r in settings.routes if r.to != destination]
    )
