"""The ``network`` family's configuration declarations: interfaces and routes. Pure: no I/O.

corral owns one file per interface, a netplan drop-in or, where netplan is
absent, a NetworkManager keyfile; routes live in their interface's file.
common/operations/network.py puts these into the family.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Params, doc
from common.operations.netnames import (
    check_interface,
    check_interface_addresses,
    check_ip,
    check_ips,
    check_network,
)

# The corral file of interface NAME; the backends derive their paths from it.
NETPLAN_FILE = "/etc/netplan/90-corral-{name}.yaml"
KEYFILE = "/etc/NetworkManager/system-connections/corral-{name}.nmconnection"

Mtu = Annotated[int, msgspec.Meta(ge=68, le=65535)]
Metric = Annotated[int, msgspec.Meta(ge=0, le=4294967295)]


def check_destination(field: str, value: str) -> None:
    """A route's destination: a network, and not the default route (that is the gateway)."""
    if check_network(field, value).prefixlen == 0:
        raise ValueError(
            f"{field}: the default route is the interface's gateway"
            " (network.interface.create or network.interface.update)"
        )


# -- parameters ---------------------------------------------------------------


class InterfaceParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The interface, as `ip link` names it (eth0, ens3).")]

    def __post_init__(self) -> None:
        check_interface("name", self.name)


class InterfaceCreateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The interface, as `ip link` names it (eth0, ens3).")]
    addresses: Annotated[
        list[str], doc("Static addresses with prefix length: 192.0.2.10/24, 2001:db8::10/64.")
    ] = msgspec.field(default_factory=list)
    gateway: Annotated[str | None, doc("The default route's next hop.")] = None
    dhcp4: Annotated[bool, doc("Get an IPv4 address by DHCP.")] = False
    mtu: Annotated[Mtu | None, doc("Bytes.")] = None
    nameservers: Annotated[list[str], doc("Name servers for this interface.")] = msgspec.field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        check_interface("name", self.name)
        check_interface_addresses("addresses", self.addresses)
        if self.gateway is not None:
            check_ip("gateway", self.gateway)
        check_ips("nameservers", self.nameservers)


class InterfaceUpdateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Each field left out keeps what corral's file says."""

    name: Annotated[str, doc("The interface, as `ip link` names it (eth0, ens3).")]
    addresses: Annotated[
        list[str] | None, doc("Replaces the addresses; an empty list removes them.")
    ] = None
    gateway: Annotated[str | None, doc('The default route\'s next hop; "" removes it.')] = None
    dhcp4: Annotated[bool | None, doc("Get an IPv4 address by DHCP.")] = None
    mtu: Annotated[Mtu | None, doc("Bytes.")] = None
    nameservers: Annotated[list[str] | None, doc("Replaces the name servers.")] = None

    def __post_init__(self) -> None:
        check_interface("name", self.name)
        check_interface_addresses("addresses", self.addresses)
        if self.gateway:
            check_ip("gateway", self.gateway)
        check_ips("nameservers", self.nameservers)


class RouteDeleteParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    interface: Annotated[str, doc("The interface whose corral configuration holds the route.")]
    destination: Annotated[str, doc("A network with prefix length: 10.0.0.0/8.")]

    def __post_init__(self) -> None:
        check_interface("interface", self.interface)
        check_destination("destination", self.destination)


class RouteCreateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    interface: Annotated[str, doc("The interface, configured by network.interface.create.")]
    destination: Annotated[str, doc("A network with prefix length: 10.0.0.0/8.")]
    gateway: Annotated[str, doc("The next hop, of the destination's IP version.")]
    metric: Annotated[Metric | None, doc("Lower wins.")] = None

    def __post_init__(self) -> None:
        check_interface("interface", self.interface)
        check_destination("destination", self.destination)
        check_ip("gateway", self.gateway)
        want = ipaddress.ip_network(self.destination).version
        if ipaddress.ip_address(self.gateway).version != want:
            raise ValueError(f"gateway must be an IPv{want} address like the destination")


# -- results ------------------------------------------------------------------


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the results: a handler's dict with a key too many fails its test."""


class RouteSetting(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    to: str
    via: str
    metric: int | None = None


class InterfaceSettings(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What corral's file for one interface says."""

    addresses: list[str] = msgspec.field(default_factory=list)
    gateway: str | None = None
    dhcp4: bool = False
    mtu: int | None = None
    nameservers: list[str] = msgspec.field(default_factory=list)
    routes: list[RouteSetting] = msgspec.field(default_factory=list)


class InterfaceConfigResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    file: Annotated[str, doc("corral's file for the interface.")]
    backend: Literal["netplan", "networkmanager"]
    settings: Annotated[InterfaceSettings | None, doc("Null once deleted.")]
    diff: Annotated[str, doc("Unified diff of the file; empty when unchanged.")]


# -- declarations -------------------------------------------------------------


_CONFIG = (
    " Written to /etc/netplan/90-corral-<name>.yaml (mode 0600) and applied with"
    " `netplan apply`; where netplan is absent but `nmcli` is installed, to the"
    " NetworkManager keyfile corral-<name>.nmconnection, loaded with `nmcli`. Neither:"
    " skipped. Unchanged when the file already says so; a failed apply puts the old"
    " file back."
)


def _mutate(
    name: str, params: type[Params], summary: str, text: str, example: dict[str, object]
) -> Declaration:
    return Declaration(
        name=name,
        params=params,
        result=InterfaceConfigResult,
        kind="mutate",
        summary=summary,
        description=text + _CONFIG,
        example=example,
        dry_run=True,
    )


CONFIG_DECLARATIONS = (
    _mutate(
        "network.interface.create",
        InterfaceCreateParams,
        "Configure an interface: addresses, gateway, DHCP, MTU, name servers.",
        "Fails when corral already configures the interface otherwise (use update).",
        {"name": "eth1", "addresses": ["192.0.2.10/24"], "gateway": "192.0.2.1", "mtu": 1500},
    ),
    _mutate(
        "network.interface.update",
        InterfaceUpdateParams,
        "Change corral's configuration of an interface.",
        "Only the fields given change; fails when corral does not configure the interface.",
        {"name": "eth1", "dhcp4": True, "mtu": 9000},
    ),
    _mutate(
        "network.interface.delete",
        InterfaceParams,
        "Remove corral's configuration of an interface.",
        "Removes corral's file, routes included; the interface itself stays. Unchanged"
        " when there is none.",
        {"name": "eth1"},
    ),
    _mutate(
        "network.route.create",
        RouteCreateParams,
        "Add a static route to a configured interface.",
        "Added to the interface's corral configuration, or replaces the route to the"
        " same destination there; the interface must be configured by corral.",
        {"interface": "eth1", "destination": "10.0.0.0/8", "gateway": "192.0.2.254"},
    ),
    _mutate(
        "network.route.delete",
        RouteDeleteParams,
        "Remove a static route.",
        "From the interface's corral configuration; unchanged when it is not there.",
        {"interface": "eth1", "destination": "10.0.0.0/8"},
    ),
)
