"""The ``node`` family's declarations: facts about the host, and its name. Pure: no I/O.

Sizes are bytes, times seconds (``boot_time`` is seconds since the epoch, UTC).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from common.operations.declaration import (
    Declaration,
    Family,
    NonEmpty,
    NoParams,
    Params,
    check_absolute,
    doc,
)
from common.operations.netnames import check_hostname


class DiskParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[
        NonEmpty | None, doc("Report only the filesystem holding this absolute path.")
    ] = None

    def __post_init__(self) -> None:
        check_absolute("path", self.path)


class HostnameUpdateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The new static hostname: RFC 1123 labels, at most 253 characters.")]

    def __post_init__(self) -> None:
        check_hostname("name", self.name)


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the node results: a handler's dict with a key too many fails its test."""


class HostnameResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    hostname: Annotated[str, doc("The agent's configured name.")]
    system_hostname: Annotated[str, doc("What the kernel says.")]
    static_hostname: Annotated[
        str | None, doc("The name in /etc/hostname, kept across reboots; null when unset.")
    ] = None


class HostnameDiff(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: Annotated[str | None, doc("The static hostname before; null when unset.")]
    after: str


class HostnameUpdateResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    hostname: Annotated[str, doc("The static hostname now (on a dry run: it would be).")]
    diff: HostnameDiff
    method: Annotated[
        str, doc("`hostnamectl` with systemd running, else `hostname` (with /etc/hostname).")
    ]


class UptimeResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    uptime: Annotated[float, doc("Seconds since boot.")]
    boot_time: Annotated[float, doc("Boot time, seconds since the epoch.")]


class LoadResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    load1: float
    load5: float
    load15: float
    cpu_count: int
    processes_running: int
    processes_total: int


class MemoryResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    total: int
    available: int
    used: Annotated[int, doc("total - available")]
    free: int
    buffers: int
    cached: int
    swap_total: int
    swap_free: int
    swap_used: int


class Filesystem(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    available: Annotated[int, doc("What an unprivileged user may still write.")]
    used_percent: Annotated[float, doc("Computed like df's.")]
    path: Annotated[str | None, doc("The path asked for, when one was.")] = None


class Unavailable(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mountpoint: str
    error: str


class DiskResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    filesystems: list[Filesystem]
    unavailable: Annotated[list[Unavailable], doc("Mounts that could not be measured.")]


class OsResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    system: str
    kernel: str
    kernel_version: str
    arch: str
    distribution: Annotated[str, doc("PRETTY_NAME of os-release.")]
    distribution_id: str
    distribution_version: str
    python: str


class StatusResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    hostname: str
    system_hostname: str
    uptime: UptimeResult
    load: LoadResult
    memory: MemoryResult
    disk: DiskResult
    os: OsResult


def _read(name: str, result: type[Result], summary: str, description: str) -> Declaration:
    return Declaration(
        name=name,
        params=NoParams,
        result=result,
        kind="read",
        summary=summary,
        description=description,
    )


FAMILY = Family(
    name="node",
    summary="Facts about the host (names, uptime, load, memory, disks, OS) and its hostname.",
    declarations=(
        _read(
            "node.hostname.get",
            HostnameResult,
            "The agent's and system hostname.",
            "The name the agent is configured with and the kernel's hostname.",
        ),
        Declaration(
            name="node.hostname.update",
            params=HostnameUpdateParams,
            result=HostnameUpdateResult,
            kind="mutate",
            summary="Set the static hostname.",
            description=(
                "With systemd running, through `hostnamectl set-hostname`; otherwise"
                " /etc/hostname is written and the kernel's name set with `hostname`."
                " Unchanged (and nothing run) when /etc/hostname already holds the name."
                " The agent keeps the name it is configured with: this renames the host,"
                " not the agent."
            ),
            example={"name": "web-1.example.com"},
            dry_run=True,
        ),
        _read(
            "node.status.get",
            StatusResult,
            "Hostname, uptime, load, memory, disks and OS together.",
            "Every other `node.*.get` answer in one result.",
        ),
        _read(
            "node.uptime.get",
            UptimeResult,
            "Seconds since boot and boot time.",
            "From /proc/uptime and /proc/stat.",
        ),
        _read(
            "node.load.get",
            LoadResult,
            "Load averages and CPU count.",
            "From /proc/loadavg, with the number of CPUs.",
        ),
        _read(
            "node.memory.get",
            MemoryResult,
            "Memory and swap in bytes.",
            "From /proc/meminfo; `available` is the kernel's MemAvailable estimate.",
        ),
        Declaration(
            name="node.disk.get",
            params=DiskParams,
            result=DiskResult,
            kind="read",
            summary="Filesystem sizes in bytes.",
            description=(
                "Every real filesystem (pseudo filesystems and read-only images left out),"
                " or with `path` the one holding it. A mount that does not answer within"
                " 5 s is listed under `unavailable`."
            ),
            example={"path": "/var"},
        ),
        _read(
            "node.os.get",
            OsResult,
            "Kernel, architecture, distribution.",
            "From uname and os-release.",
        ),
    ),
)
