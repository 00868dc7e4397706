"""The ``node.*`` operations: facts about the host, and its name. Does I/O.

/proc is read live (it is the running kernel's); /etc goes through the host
seam (``ctx.host``), so a test root stands in for it.

Every result is a plain JSON-able dict; sizes are bytes, times are seconds
(``boot_time`` is seconds since the epoch, UTC). Keys:

- ``node.hostname.get``: ``hostname`` (the agent's configured name),
  ``system_hostname`` (what the kernel says), ``static_hostname``
  (/etc/hostname, null when unset).
- ``node.hostname.update``: sets the static hostname (hostnamectl with
  systemd running, else /etc/hostname and ``hostname``); ``hostname``,
  ``diff`` ``{before, after}``, ``method``.
- ``node.uptime.get``: ``uptime``, ``boot_time``.
- ``node.load.get``: ``load1``, ``load5``, ``load15``, ``cpu_count``,
  ``processes_running``, ``processes_total``.
- ``node.memory.get``: ``total``, ``available``, ``used`` (total - available),
  ``free``, ``buffers``, ``cached``, ``swap_total``, ``swap_free``, ``swap_used``.
- ``node.disk.get``: ``filesystems``, a list of ``{mountpoint, device, fstype,
  total, used, free, available, used_percent}`` (``available`` is what an
  unprivileged user may still write; ``used_percent`` is computed like df's),
  and ``unavailable``, a list of ``{mountpoint, error}`` for mounts that could
  not be measured. Pseudo filesystems (proc, sysfs, cgroup, ...) and
  read-only images (squashfs) are left out. With ``path``, ``filesystems``
  holds only the filesystem containing it, with an extra ``path`` key.
- ``node.os.get``: ``system``, ``kernel``, ``kernel_version``, ``arch``,
  ``distribution`` (PRETTY_NAME), ``distribution_id``, ``distribution_version``,
  ``python``.
- ``node.status.get``: ``hostname``, ``system_hostname`` and the results
  above under ``uptime``, ``load``, ``memory``, ``disk``, ``os``.

/proc reads are quick and done inline; ``statvfs`` can hang on a dead network
mount, so it runs in a thread with a per-mount time limit.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shlex
import socket
import time
from pathlib import Path
from typing import Any

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.node import DiskParams, HostnameUpdateParams

STATVFS_TIMEOUT = 5.0

# Mostly node_exporter's default exclusions, but overlay stays: it is the
# root filesystem of every container.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
        "devpts", "devtmpfs", "efivarfs", "erofs", "fusectl", "hugetlbfs", "iso9660",
        "mqueue", "nsfs", "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs",
        "selinuxfs", "squashfs", "sysfs", "tracefs",
    }
)  # fmt: skip


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise OperationFailed(f"cannot read {path}: {exc.strerror or exc}") from None


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes, keyed by its own field names (``MemTotal``, ...)."""
    values: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            unit = 1024 if fields[1:] == ["kB"] else 1
            values[name] = int(fields[0]) * unit
    return values


def memory_info() -> dict[str, int]:
    info = meminfo()
    total = info.get("MemTotal", 0)
    free = info.get("MemFree", 0)
    buffers, cached = info.get("Buffers", 0), info.get("Cached", 0)
    # MemAvailable appeared in Linux 3.14; older kernels get the classic estimate.
    available = info.get("MemAvailable", free + buffers + cached)
    swap_total, swap_free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    return {
        "total": total,
        "available": available,
        "used": total - available,
        "free": free,
        "buffers": buffers,
        "cached": cached,
        "swap_total": swap_total,
        "swap_free": swap_free,
        "swap_used": swap_total - swap_free,
    }


def boot_time() -> float:
    for line in _read("/proc/stat").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return time.time() - float(_read("/proc/uptime").split()[0])


def uptime_info() -> dict[str, float]:
    return {"uptime": float(_read("/proc/uptime").split()[0]), "boot_time": boot_time()}


def load_info() -> dict[str, Any]:
    load1, load5, load15, procs, _ = _read("/proc/loadavg").split()
    running, _, total = procs.partition("/")
    return {
        "load1": float(load1),
        "load5": float(load5),
        "load15": float(load15),
        "cpu_count": os.cpu_count() or 0,
        "processes_running": int(running),
        "processes_total": int(total),
    }


OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")
_OS_RELEASE_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def parse_os_release(text: str) -> dict[str, str]:
    """os-release(5): ``KEY=value`` lines, values quoted and escaped as in a shell."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _OS_RELEASE_LINE.fullmatch(line.strip())
        if match is None:
            continue  # a comment, a blank line, or something os-release does not allow
        try:
            words = shlex.split(match[2])
        except ValueError:  # an unbalanced quote: keep the raw value
            words = [match[2]]
        values[match[1]] = words[0] if words else ""
    return values


def os_release(host: Host | None = None) -> dict[str, str]:
    """The host's os-release (/etc, else /usr/lib) as a dict; empty if neither exists.

    Without ``host``, the machine's own (the agent's facts, agent/facts.py).
    """
    for path in OS_RELEASE_FILES:
        try:
            text = (host or Host()).read_text(path)
        except OperationFailed:  # unreadable: as before, an unknown distribution
            continue
        if text is not None:
            return parse_os_release(text)
    return {}


def os_info(host: Host) -> dict[str, str]:
    release = os_release(host)
    uname = platform.uname()
    return {
        "system": uname.system,
        "kernel": uname.release,
        "kernel_version": uname.version,
        "arch": uname.machine,
        "distribution": release.get("PRETTY_NAME", ""),
        "distribution_id": release.get("ID", ""),
        "distribution_version": release.get("VERSION_ID", ""),
        "python": platform.python_version(),
    }


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def mounts() -> list[tuple[str, str, str]]:
    """``(device, mountpoint, fstype)`` per mountpoint; the last mount on a point wins."""
    by_point: dict[str, tuple[str, str, str]] = {}
    for line in _read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) >= 3:
            device, point, fstype = (_unescape(f) for f in fields[:3])
            by_point[point] = (device, point, fstype)
    return list(by_point.values())


def _usage(path: str) -> dict[str, Any]:
    st = os.statvfs(path)
    total, free = st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize
    available, used = st.f_bavail * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used + available
    return {
        "total": total,
        "used": used,
        "free": free,
        "available": available,
        "used_percent": round(100 * used / usable, 1) if usable else 0.0,
    }


async def _measure(path: str) -> dict[str, Any]:
    async with asyncio.timeout(STATVFS_TIMEOUT):
        return await asyncio.to_thread(_usage, path)


def _containing_mount(path: str) -> tuple[str, str, str]:
    def inside(point: str) -> bool:
        return path == point or path.startswith(point.rstrip("/") + "/")

    found = [m for m in mounts() if inside(m[1])]
    return max(found, key=lambda m: len(m[1]), default=("", "/", ""))


async def _one_path(path: str) -> dict[str, Any]:
    try:
        real = await asyncio.to_thread(os.path.realpath, path, strict=True)
        usage = await _measure(real)
    except TimeoutError:
        raise OperationFailed(f"statvfs {path} timed out after {STATVFS_TIMEOUT:g}s") from None
    except OSError as exc:
        raise OperationFailed(f"cannot stat {path}: {exc.strerror or exc}") from None
    device, point, fstype = _containing_mount(real)
    fs = {"path": path, "mountpoint": point, "device": device, "fstype": fstype, **usage}
    return {"filesystems": [fs], "unavailable": []}


async def disk_info(path: str | None = None) -> dict[str, Any]:
    if path is not None:
        return await _one_path(path)
    real = [m for m in mounts() if m[2] not in PSEUDO_FILESYSTEMS]
    results = await asyncio.gather(*(_measure(m[1]) for m in real), return_exceptions=True)
    filesystems: list[dict[str, Any]] = []
    unavailable: list[dict[str, str]] = []
    for (device, point, fstype), usage in zip(real, results, strict=True):
        if isinstance(usage, BaseException):
            if not isinstance(usage, Exception):
                raise usage  # cancellation is not a property of the mount
            error = "timed out" if isinstance(usage, TimeoutError) else str(usage)
            unavailable.append({"mountpoint": point, "error": error})
        elif usage["total"] > 0:  # zero-sized: a pseudo filesystem we did not list
            filesystems.append({"mountpoint": point, "device": device, "fstype": fstype, **usage})
    return {"filesystems": filesystems, "unavailable": unavailable}


def static_hostname(host: Host) -> str | None:
    """The first name in /etc/hostname (comments allowed, hostname(5)); None when unset."""
    for line in (host.read_text("/etc/hostname") or "").splitlines():
        name = line.partition("#")[0].strip()
        if name:
            return name
    return None


async def hostname(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(
        data={
            "hostname": ctx.hostname,
            "system_hostname": socket.gethostname(),
            "static_hostname": static_hostname(ctx.host),
        }
    )


async def _write_and_set(host: Host, name: str) -> None:
    """/etc/hostname, then the kernel's name; the file goes back if the kernel refuses."""
    written = host.write_file("/etc/hostname", f"{name}\n".encode())
    try:
        await host.run(["hostname", name])
    except OperationFailed:
        # Else the next run would find the file right and never set the kernel's name.
        if written.before is None:
            host.remove_file("/etc/hostname")
        else:
            host.write_file("/etc/hostname", written.before)
        raise


async def hostname_update(params: HostnameUpdateParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    # Which way depends on the host alone; check it up front so a dry run skips alike.
    method = "hostnamectl" if host.systemd_running() else "hostname"
    host.require(method)
    before = static_hostname(host)
    changed = before != params.name
    if changed and not ctx.dry_run:
        if method == "hostnamectl":
            # hostnamed writes /etc/hostname and tells the kernel itself.
            await host.run(["hostnamectl", "set-hostname", params.name])
        else:
            await _write_and_set(host, params.name)
    diff = {"before": before, "after": params.name}
    return OperationResult(
        data={"hostname": params.name, "diff": diff, "method": method}, changed=changed
    )


async def uptime(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=uptime_info())


async def load(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=load_info())


async def memory(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=memory_info())


async def disk(params: DiskParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=await disk_info(params.path))


async def operating_system(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=os_info(ctx.host))


async def status(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(
        data={
            "hostname": ctx.hostname,
            "system_hostname": socket.gethostname(),
            "uptime": uptime_info(),
            "load": load_info(),
            "memory": memory_info(),
            "disk": await disk_info(),
            "os": os_info(ctx.host),
        }
    )


HANDLERS: dict[str, Handler] = {
    "node.hostname.get": hostname,
    "node.hostname.update": hostname_update,
    "node.status.get": status,
    "node.uptime.get": uptime,
    "node.load.get": load,
    "node.memory.get": memory,
    "node.disk.get": disk,
    "node.os.get": operating_system,
}
