"""The ``network`` family's declarations: DNS, ping, interfaces and routes. Pure: no I/O.

Reads are live (``ip``, /sys/class/net, /etc/resolv.conf). Configuration,
corral's own file per interface, is declared in network_config.py and
joins the family here. Addresses are validated with :mod:`ipaddress`
(netnames.py), so a typo is a 400 naming the field.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc
from common.operations.netnames import (
    check_hostname,
    check_ip,
    check_ips,
    is_hostname,
)
from common.operations.network_config import CONFIG_DECLARATIONS, InterfaceParams

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


class RouteGetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    destination: Annotated[str, doc("An IPv4 or IPv6 address.")]

    def __post_init__(self) -> None:
        check_ip("destination", self.destination)


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
        *CONFIG_DECLARATIONS,
    ),
)
