"""The ``network`` family's declarations: DNS, ping, interfaces and routes. Pure: no I/O.

Reads are live (``ip``, /sys/class/net, /etc/resolv.conf). Configuration is
corral's own file per interface, a netplan drop-in
(``/etc/netplan/90-corral-<name>.yaml``) or, where netplan is absent, a
NetworkManager keyfile; routes live in their interface's file. Addresses
are validated here with :mod:`ipaddress`, so a typo is a 400 naming the field.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc
from common.operations.hostnames import check_hostname, is_hostname

# Linux's rule (dev_valid_name): 1 to 15 bytes, no '/', ':' or white space, not '.' or '..'.
INTERFACE_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,15}")
# The corral file of interface NAME; the backends derive their paths from it.
NETPLAN_FILE = "/etc/netplan/90-corral-{name}.yaml"
KEYFILE = "/etc/NetworkManager/system-connections/corral-{name}.nmconnection"

Mtu = Annotated[int, msgspec.Meta(ge=68, le=65535)]
Metric = Annotated[int, msgspec.Meta(ge=0, le=4294967295)]


def check_interface(field: str, name: str) -> None:
    if not INTERFACE_RE.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"{field} must be an interface name: 1 to 15 of letters, digits, '_.@+-', got {name!r}"
        )


def check_ip(field: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{field} must be an IPv4 or IPv6 address, got {value!r}") from None


def check_ips(field: str, values: list[str] | None) -> None:
    for i, value in enumerate(values or ()):
        check_ip(f"{field}[{i}]", value)


def check_interface_addresses(field: str, values: list[str] | None) -> None:
    for i, value in enumerate(values or ()):
        try:
            if "/" not in value:
                raise ValueError
            ipaddress.ip_interface(value)
        except ValueError:
            raise ValueError(
                f"{field}[{i}] must be an address with its prefix length"
                f" (192.0.2.10/24, 2001:db8::10/64), got {value!r}"
            ) from None


def check_destination(field: str, value: str) -> None:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(
            f"{field} must be a network with its prefix length and no host bits"
            f" (10.0.0.0/8, 2001:db8::/32), got {value!r}"
        ) from None
    if network.prefixlen == 0:
        raise ValueError(
            f"{field}: the default route is the interface's gateway"
            " (network.interface.create or network.interface.update)"
        )


# -- parameters ---------------------------------------------------------------


class DnsUpdateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    nameservers: (
        Annotated[
            list[str],
            msgspec.Meta(max_length=3),
            doc("Name server addresses, in order (at most 3: the C library uses no more)."),
        ]
        | None
    ) = None
    search: Annotated[list[str] | None, doc("Search domains, in order.")] = None

    def __post_init__(self) -> None:
        if self.nameservers is None and self.search is None:
            raise ValueError("nameservers: give nameservers, search or both")
        check_ips("nameservers", self.nameservers)
        for i, domain in enumerate(self.search or ()):
            check_hostname(f"search[{i}]", domain)


class PingParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: Annotated[str, doc("A host name or an IPv4 or IPv6 address.")]
    count: Annotated[int, msgspec.Meta(ge=1, le=100), doc("Echo requests to send.")] = 3
    timeout: Annotated[
        float, msgspec.Meta(gt=0, le=300), doc("Seconds the whole ping may take.")
    ] = 10.0

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            if not is_hostname(self.host):
                raise ValueError(
                    f"host must be a host name or an IP address, got {self.host!r}"
                ) from None


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


class RouteGetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    destination: Annotated[str, doc("An IPv4 or IPv6 address.")]

    def __post_init__(self) -> None:
        check_ip("destination", self.destination)


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
    """Base of the network results: a handler's dict with a key too many fails its test."""


class DnsResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    nameservers: Annotated[list[str], doc("From /etc/resolv.conf, in order.")]
    search: list[str]
    options: Annotated[list[str], doc("The `options` line's words.")]
    managed_by: Annotated[
        Literal["file", "systemd-resolved"],
        doc("`systemd-resolved` when /etc/resolv.conf is its symlink."),
    ]
    resolved_stub: Annotated[bool, doc("Whether 127.0.0.53, systemd-resolved's stub, is listed.")]
    upstream_nameservers: Annotated[
        list[str], doc("With the stub: the servers systemd-resolved itself asks.")
    ]


class DnsUpdateResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    nameservers: list[str]
    search: list[str]
    file: Annotated[str, doc("/etc/resolv.conf, or systemd-resolved's drop-in.")]
    managed_by: Literal["file", "systemd-resolved"]
    diff: Annotated[str, doc("Unified diff of the file; empty when unchanged.")]


class PingReport(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str
    address: Annotated[str | None, doc("The address pinged, when known.")]
    transmitted: int
    received: int
    packet_loss: Annotated[float, doc("Percent.")]
    rtt_min: Annotated[float | None, doc("Milliseconds; null when nothing came back.")]
    rtt_avg: float | None
    rtt_max: float | None
    method: Annotated[
        Literal["ping", "socket"], doc("The `ping` tool, or an unprivileged ICMP socket.")
    ]


class Address(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    family: Literal["inet", "inet6"]
    address: str
    prefixlen: int
    scope: str | None = None


class Interface(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    index: int
    state: Annotated[str, doc("Operational state: UP, DOWN, UNKNOWN...")]
    mac: str | None
    mtu: int
    flags: Annotated[list[str], doc("UP, LOWER_UP, BROADCAST...")]
    addresses: Annotated[list[Address], doc("Empty when read from /sys (no `ip`).")]


class InterfaceList(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    interfaces: list[Interface]
    source: Annotated[
        Literal["ip", "sysfs"], doc("`ip -j addr`, or /sys/class/net without addresses.")
    ]


class Route(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    family: Literal["inet", "inet6"]
    destination: Annotated[str, doc("`default`, a network, or an address.")]
    gateway: str | None = None
    device: str | None = None
    source: Annotated[str | None, doc("The preferred source address.")] = None
    protocol: str | None = None
    scope: str | None = None
    metric: int | None = None
    type: Annotated[str | None, doc("local, broadcast...; null for unicast.")] = None


class RouteList(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    routes: Annotated[list[Route], doc("The main table, IPv4 then IPv6.")]


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


def _read(
    name: str,
    params: type[Params],
    result: object,
    summary: str,
    text: str,
    example: dict[str, object] | None = None,
) -> Declaration:
    return Declaration(
        name=name,
        params=params,
        result=result,
        kind="read",
        summary=summary,
        description=text,
        example=example or {},
    )


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


FAMILY = Family(
    name="network",
    summary="DNS, ping, interfaces and routes: read live, configured through netplan or NM.",
    declarations=(
        _read(
            "network.dns.get",
            NoParams,
            DnsResult,
            "Name servers and search domains.",
            "From /etc/resolv.conf; with systemd-resolved's stub (127.0.0.53) listed, also"
            " the servers it asks, from /run/systemd/resolve/resolv.conf.",
        ),
        Declaration(
            name="network.dns.update",
            params=DnsUpdateParams,
            result=DnsUpdateResult,
            kind="mutate",
            summary="Set name servers and search domains.",
            description=(
                "A field left out keeps its value. Rewrites the nameserver and search lines"
                " of /etc/resolv.conf atomically, keeping the rest. When /etc/resolv.conf is"
                " systemd-resolved's symlink, writes the drop-in"
                " /etc/systemd/resolved.conf.d/corral.conf instead and restarts"
                " systemd-resolved (skipped when systemd is not running)."
            ),
            example={"nameservers": ["192.0.2.53", "2001:db8::53"], "search": ["example.com"]},
            dry_run=True,
        ),
        Declaration(
            name="network.ping",
            params=PingParams,
            result=PingReport,
            kind="read",
            summary="Ping a host.",
            description=(
                "With the `ping` tool when installed, else an unprivileged ICMP socket"
                " (allowed by net.ipv4.ping_group_range). Neither: skipped. No reply is a"
                " result (`received: 0`), not a failure; an unknown host is a failure."
            ),
            example={"host": "192.0.2.1", "count": 3, "timeout": 5},
        ),
        _read(
            "network.interface.list",
            NoParams,
            InterfaceList,
            "Interfaces with their state and addresses.",
            "From `ip -j addr`; without `ip`, from /sys/class/net (no addresses then).",
        ),
        _read(
            "network.interface.get",
            InterfaceParams,
            Interface,
            "One interface.",
            "Like network.interface.list, for one interface; an unknown name fails.",
            {"name": "eth0"},
        ),
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
            {"name": "eth1", "dhcp4": True, "addresses": []},
        ),
        _mutate(
            "network.interface.delete",
            InterfaceParams,
            "Remove corral's configuration of an interface.",
            "Removes corral's file, routes included; the interface itself stays. Unchanged"
            " when there is none.",
            {"name": "eth1"},
        ),
        _read(
            "network.route.list",
            NoParams,
            RouteList,
            "The routing table.",
            "The main table from `ip -j route` and `ip -j -6 route`.",
        ),
        _read(
            "network.route.get",
            RouteGetParams,
            Route,
            "The route the kernel would take to an address.",
            "From `ip -j route get <destination>`.",
            {"destination": "192.0.2.1"},
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
    ),
)
