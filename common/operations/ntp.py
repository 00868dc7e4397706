"""The ``ntp`` family's declarations: which NTP servers the host syncs with. Pure: no I/O.

Two clients are understood: chrony (Debian's /etc/chrony/chrony.conf and
its sources.d, RHEL's /etc/chrony.conf) and systemd-timesyncd
(/etc/systemd/timesyncd.conf and timesyncd.conf.d). corral's servers live
in a drop-in of its own, so the distribution's files are left alone.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

# A host name, an IPv4 address or an IPv6 address: what both clients accept.
SERVER_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9.])?")
SERVER_MAX = 253
SERVERS_MAX = 16

Implementation = Literal["chrony", "timesyncd"]


class SetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    servers: Annotated[
        list[str],
        msgspec.Meta(max_length=SERVERS_MAX),
        doc("Host names or addresses, in order; an empty list removes corral's drop-in."),
    ]

    def __post_init__(self) -> None:
        for i, server in enumerate(self.servers):
            if len(server) > SERVER_MAX or not SERVER_RE.fullmatch(server):
                raise ValueError(
                    f"servers[{i}] must be a host name or an IP address, got {server!r}"
                )
        if len(set(self.servers)) != len(self.servers):
            raise ValueError("servers must not name a server twice")


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the ntp results: a handler's dict with a key too many fails its test."""


class Source(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    server: str
    kind: Annotated[
        Literal["server", "pool", "peer", "ntp", "fallback"],
        doc("chrony's directive, or timesyncd's `NTP=` (ntp) or `FallbackNTP=` (fallback)."),
    ]
    file: Annotated[str, doc("The configuration file that names it.")]


class Sync(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    synchronized: Annotated[bool | None, doc("Null when the tool could not say.")]
    server: Annotated[str | None, doc("The server it follows.")] = None
    stratum: int | None = None
    offset: Annotated[float | None, doc("Seconds the clock is ahead (+) or behind (-).")] = None
    leap: Annotated[str | None, doc("chrony's leap status.")] = None
    tool: Annotated[str, doc("Who answered: `chronyc` or `timedatectl`.")]
    error: Annotated[str | None, doc("What the tool said when it could not answer.")] = None


class GetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    implementation: Annotated[
        Implementation | None, doc("The client in use; null when neither is installed.")
    ]
    config_file: Annotated[str | None, doc("Its main configuration file.")]
    drop_in_file: Annotated[str | None, doc("Where corral keeps its servers.")]
    servers: Annotated[list[Source], doc("Every server configured, in the files' order.")]
    corral_servers: Annotated[list[str], doc("The servers of corral's drop-in.")]
    sync: Annotated[Sync | None, doc("Null when no tool could be asked.")]


class SetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    implementation: Implementation
    drop_in_file: str
    servers: list[str]
    reloaded: Annotated[
        list[str] | None, doc("The command that made the client read its files again, if run.")
    ]
    diff: Annotated[str, doc("Unified diff of the files corral changed.")]


FAMILY = Family(
    name="ntp",
    summary="NTP servers of chrony or systemd-timesyncd, and whether the clock is synchronized.",
    declarations=(
        Declaration(
            name="ntp.get",
            params=NoParams,
            result=GetResult,
            kind="read",
            summary="The NTP client in use, its servers and its sync state.",
            description=(
                "chrony when its configuration is there (/etc/chrony/chrony.conf with its"
                " sources.d, or /etc/chrony.conf), else systemd-timesyncd"
                " (/etc/systemd/timesyncd.conf and timesyncd.conf.d). The sync state comes"
                " from `chronyc -c tracking`, or from `timedatectl show-timesync` and"
                " `timedatectl show` when systemd runs; it is null when no tool answers."
            ),
        ),
        Declaration(
            name="ntp.set",
            params=SetParams,
            result=SetResult,
            kind="mutate",
            summary="Point the NTP client at these servers.",
            description=(
                "chrony: /etc/chrony/sources.d/corral.sources (`server NAME iburst` per"
                " server), then `chronyc reload sources`; on RHEL, whose /etc/chrony.conf"
                " reads no such directory, a `sourcedir /etc/chrony/sources.d` line is added"
                " once and chronyd restarted instead. chrony keeps using the servers of its"
                " own configuration too (the distribution's pool). systemd-timesyncd:"
                " /etc/systemd/timesyncd.conf.d/corral.conf (`NTP=`, which replaces the"
                " servers of the files before it), then `systemctl restart"
                " systemd-timesyncd`. Files are written atomically and only when they"
                " differ; an empty list removes the drop-in. Skipped when neither client is"
                " installed."
            ),
            example={"servers": ["0.pool.ntp.org", "1.pool.ntp.org"]},
            dry_run=True,
        ),
    ),
)
