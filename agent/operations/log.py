"""The ``log.*`` operations: read journald, or the syslog file. I/O (runs journalctl, reads files).

journald is used when ``journalctl`` is installed and the host keeps a
journal (/var/log/journal or /run/log/journal under the host root); else
the first of /var/log/syslog and /var/log/messages; else the query is
skipped. journalctl filters itself (``--unit``, ``--priority``,
``--since=@<epoch>``, ``--grep``, ``--lines``) and prints one JSON object
per entry. A syslog file is filtered here, over its last 16 MiB:
``grep`` is case-insensitive when it is all lower case, as journalctl's.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from agent.operations.base import Handler, OperationContext, OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.log import PRIORITIES, QueryParams, parse_since
from common.timefmt import rfc3339

JOURNAL_DIRECTORIES = ("/var/log/journal", "/run/log/journal")
SYSLOG_FILES = ("/var/log/syslog", "/var/log/messages")
SYSLOG_TAIL = 16 * 1024 * 1024
MAX_MESSAGE = 4096
FIELDS = "MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER,_PID,_HOSTNAME"

# rsyslog's default since Debian 12 (RFC 3339), and the traditional "May  1 10:00:00".
_RFC3339_LINE = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\S+)\s+(?P<host>\S+)\s+(?P<rest>.*)")
_CLASSIC_LINE = re.compile(
    r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+(?P<host>\S+)\s+(?P<rest>.*)"
)
_TAG = re.compile(r"(?P<ident>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<message>.*)")


def journald_available(host: Host) -> bool:
    kept = any(host.file(d).is_dir() for d in JOURNAL_DIRECTORIES)
    return kept and host.which("journalctl") is not None


def syslog_files(host: Host) -> list[str]:
    return [path for path in SYSLOG_FILES if host.file(path).is_file()]


def _text(value: Any) -> str | None:
    """A journal field: a string, bytes as a list of ints, repeated as a list, or null."""
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return bytes(value).decode("utf-8", errors="replace")
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def journal_entry(record: dict[str, Any]) -> dict[str, Any]:
    realtime = _text(record.get("__REALTIME_TIMESTAMP"))
    priority = _text(record.get("PRIORITY"))
    pid = _text(record.get("_PID"))
    return {
        "timestamp": rfc3339(int(realtime) / 1e6) if realtime and realtime.isdigit() else None,
        "message": (_text(record.get("MESSAGE")) or "")[:MAX_MESSAGE],
        "unit": _text(record.get("_SYSTEMD_UNIT")),
        "identifier": _text(record.get("SYSLOG_IDENTIFIER")),
        "pid": int(pid) if pid and pid.isdigit() else None,
        "priority": PRIORITIES[int(priority)] if priority in tuple("01234567") else None,
        "hostname": _text(record.get("_HOSTNAME")),
    }


def parse_journal(output: str) -> list[dict[str, Any]]:
    entries = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                entries.append(journal_entry(msgspec.json.decode(line)))
            except msgspec.DecodeError:
                continue  # a line cut short by a rotating journal
    return entries


def _since(text: str | None, now: float) -> float | None:
    if text is None:
        return None
    since = parse_since(text)
    return now - since.total_seconds() if isinstance(since, timedelta) else since.timestamp()


async def query_journal(params: QueryParams, ctx: OperationContext) -> dict[str, Any]:
    argv = ["journalctl", "--no-pager", "--quiet", "--output=json", f"--output-fields={FIELDS}"]
    argv.append(f"--lines={params.lines}")
    if params.unit is not None:
        argv.append(f"--unit={params.unit}")
    if params.priority is not None:
        argv.append(f"--priority={params.priority}")
    since = _since(params.since, time.time())
    if since is not None:
        argv.append(f"--since=@{int(since)}")
    if params.grep is not None:
        argv.append(f"--grep={params.grep}")
    ran = await ctx.host.run(argv, check=False)
    # Like grep, journalctl --grep exits 1, silently, when nothing matched.
    nothing_matched = ran.exit_code == 1 and params.grep is not None and not ran.stdout.strip()
    if ran.exit_code != 0 and not nothing_matched:
        raise OperationFailed(f"journalctl exited with {ran.exit_code}: {ran.reason()}")
    return {
        "source": "journald",
        "path": None,
        "entries": parse_journal(ran.stdout)[-params.lines :],
        "unapplied": [],
    }


def _line_time(text: str, now: datetime) -> datetime | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            # No year and no zone: this year in the host's zone, unless that is ahead of now.
            local = datetime.strptime(f"{now.year} {text}", "%Y %b %d %H:%M:%S").astimezone()
        except ValueError:
            return None
        return local.replace(year=now.year - 1) if local > now + timedelta(days=1) else local
    return when if when.tzinfo else when.astimezone()


def syslog_entry(line: str, now: datetime) -> tuple[datetime | None, dict[str, Any]]:
    match = _RFC3339_LINE.fullmatch(line) or _CLASSIC_LINE.fullmatch(line)
    if match is None:
        return None, {"timestamp": None, "message": line[:MAX_MESSAGE]}
    when = _line_time(match["ts"], now)
    entry: dict[str, Any] = {
        "timestamp": rfc3339(when.timestamp()) if when else None,
        "hostname": match["host"],
        "message": match["rest"][:MAX_MESSAGE],
    }
    tag = _TAG.fullmatch(match["rest"])
    if tag:
        pid = tag["pid"]
        entry.update(
            identifier=tag["ident"],
            pid=int(pid) if pid else None,
            message=tag["message"][:MAX_MESSAGE],
        )
    return when, entry


def _tail(host: Host, path: str) -> str:
    try:
        with host.file(path).open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - SYSLOG_TAIL))
            data = file.read()
    except OSError as exc:
        raise OperationFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > SYSLOG_TAIL:
        data = data.partition(b"\n")[2]  # the first line is cut
    return data.decode("utf-8", errors="replace")


def query_syslog(params: QueryParams, host: Host, path: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    since = _since(params.since, now.timestamp())
    flags = re.IGNORECASE if params.grep and params.grep == params.grep.lower() else 0
    pattern = re.compile(params.grep, flags) if params.grep else None
    program = params.unit.removesuffix(".service") if params.unit else None
    entries = []
    for line in _tail(host, path).splitlines():
        when, entry = syslog_entry(line, now)
        if since is not None and (when is None or when.timestamp() < since):
            continue
        if program is not None and entry.get("identifier") != program:
            continue
        if pattern is not None and not pattern.search(entry["message"]):
            continue
        entries.append(entry)
    unapplied = ["priority"] if params.priority else []
    return {
        "source": "syslog",
        "path": path,
        "entries": entries[-params.lines :],
        "unapplied": unapplied,
    }


async def query(params: QueryParams, ctx: OperationContext) -> OperationResult:
    if journald_available(ctx.host):
        return OperationResult(data=await query_journal(params, ctx))
    files = syslog_files(ctx.host)
    if not files:
        raise OperationSkipped(
            "this host keeps no journal (/var/log/journal, /run/log/journal) and no syslog"
            " file (/var/log/syslog, /var/log/messages)"
        )
    return OperationResult(data=query_syslog(params, ctx.host, files[0]))


async def sources(params: NoParams, ctx: OperationContext) -> OperationResult:
    journald = journald_available(ctx.host)
    files = syslog_files(ctx.host)
    units: list[str] = []
    if journald:
        ran = await ctx.host.run(["journalctl", "--no-pager", "--quiet", "--field=_SYSTEMD_UNIT"])
        units = sorted(set(ran.stdout.split()))
    default = "journald" if journald else "syslog" if files else None
    return OperationResult(
        data={"journald": journald, "syslog": files, "default": default, "units": units}
    )


HANDLERS: dict[str, Handler] = {"log.query": query, "log.sources": sources}
