"""The ``timezone.*`` operations: the host's time zone. I/O via the host seam.

The zone in effect is where /etc/localtime points (``/usr/share/zoneinfo/
Europe/Paris``, or systemd's relative ``../usr/share/zoneinfo/...``);
Debian also keeps the name in /etc/timezone. With systemd running,
``timedatectl set-timezone`` changes it (timedated relinks the file);
without, corral relinks /etc/localtime itself, atomically (a new link
renamed over the old one). /etc/timezone is kept in step when the host has
one; it is not created on hosts (RHEL, newer Debian) that do without.
"""

from __future__ import annotations

import contextlib
import os

from agent.operations.base import Handler, OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.timezone import SetParams

ZONEINFO = "/usr/share/zoneinfo"
LOCALTIME = "/etc/localtime"
ETC_TIMEZONE = "/etc/timezone"
_TIMEDATED = {
    "Timezone": "timezone",
    "LocalRTC": "local_rtc",
    "NTP": "ntp",
    "NTPSynchronized": "ntp_synchronized",
    "TimeUSec": "time",
}
_BOOLEANS = frozenset({"LocalRTC", "NTP", "NTPSynchronized"})


def localtime_target(host: Host) -> str | None:
    try:
        return os.readlink(host.file(LOCALTIME))
    except (FileNotFoundError, OSError):
        return None


def zone_of(target: str | None) -> str | None:
    """``Europe/Paris`` from ``/usr/share/zoneinfo/Europe/Paris`` (or a relative link)."""
    if target is None or "zoneinfo/" not in target:
        return None
    return target.rsplit("zoneinfo/", 1)[1] or None


def etc_timezone(host: Host) -> str | None:
    text = host.read_text(ETC_TIMEZONE)
    return text.strip() or None if text is not None else None


def current(host: Host) -> str | None:
    return zone_of(localtime_target(host)) or etc_timezone(host)


def parse_show(text: str) -> dict[str, object]:
    """``timedatectl show``: ``Name=value`` lines, yes/no as booleans."""
    found: dict[str, object] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name in _TIMEDATED:
            boolean = name in _BOOLEANS
            found[_TIMEDATED[name]] = {"yes": True, "no": False}.get(value) if boolean else value
    return found


async def get(params: NoParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    shown = None
    if host.systemd_running() and host.which("timedatectl") is not None:
        ran = await host.run(["timedatectl", "show"], check=False)
        shown = parse_show(ran.stdout) if ran.exit_code == 0 else None
    target = localtime_target(host)
    return OperationResult(
        data={
            "timezone": current(host),
            "localtime": target,
            "etc_timezone": etc_timezone(host),
            "timedatectl": shown,
        }
    )


def check_zone(host: Host, zone: str) -> None:
    if not host.file(ZONEINFO).is_dir():
        raise OperationSkipped(f"tzdata is not installed on this host (no {ZONEINFO})")
    try:
        with open(host.file(f"{ZONEINFO}/{zone}"), "rb") as data:
            if data.read(4) == b"TZif":
                return
    except OSError:
        pass
    raise OperationFailed(f"timezone {zone} is not in {ZONEINFO} on this host")


def relink(host: Host, zone: str) -> None:
    """Point /etc/localtime at the zone: a new link renamed over the old file."""
    link = host.file(LOCALTIME)
    temporary = link.with_name(f".localtime.corral-{os.getpid()}")
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(f"{ZONEINFO}/{zone}")
        os.replace(temporary, link)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise OperationFailed(f"cannot relink {LOCALTIME}: {exc.strerror or exc}") from None


async def set_zone(params: SetParams, ctx: OperationContext) -> OperationResult:
    host, zone = ctx.host, params.timezone
    check_zone(host, zone)
    systemd = host.systemd_running()
    if systemd:
        host.require("timedatectl")
    before = current(host)
    relink_needed = zone_of(localtime_target(host)) != zone
    etc = etc_timezone(host) if host.file(ETC_TIMEZONE).is_file() else zone
    if not ctx.dry_run:
        if relink_needed and systemd:
            await host.run(["timedatectl", "set-timezone", zone])
        elif relink_needed:
            relink(host, zone)
        if etc != zone:
            host.write_file(ETC_TIMEZONE, f"{zone}\n".encode())
    return OperationResult(
        data={
            "timezone": zone,
            "via": "timedatectl" if systemd else "files",
            "diff": {"before": before, "after": zone},
        },
        changed=relink_needed or etc != zone,
    )


HANDLERS: dict[str, Handler] = {"timezone.get": get, "timezone.set": set_zone}
