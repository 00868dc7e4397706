"""The ``log`` family's declarations: read the host's system log. Pure: no I/O.

``since`` is either a duration back from now (``90s``, ``15m``, ``2h``,
``7d``) or an RFC 3339 timestamp with its offset; :func:`parse_since`
turns it into one or the other without looking at a clock, so the
controller can check it at submit and the agent resolve it when it runs.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

# syslog(3)'s levels, most severe first; a level stands for itself and worse.
PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
Priority = Literal["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
Source = Literal["journald", "syslog"]

# "(?!\n)$": Python's "$" would accept a final newline, JSON Schema's would not.
UNIT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:_.@\\-]{0,255}(?!\n)$"
DURATION_RE = re.compile(r"(?P<count>\d{1,7})(?P<unit>[smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LINES = 1000


def parse_since(text: str) -> timedelta | datetime:
    """A duration ago, or an aware timestamp; ValueError naming ``since`` otherwise."""
    match = DURATION_RE.fullmatch(text)
    if match:
        return timedelta(seconds=int(match["count"]) * _SECONDS[match["unit"]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(
            f"since must be a duration (90s, 15m, 2h, 7d) or an RFC 3339 timestamp"
            f" with its offset, got {text!r}"
        )
    return when


class QueryParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    unit: (
        Annotated[
            str,
            msgspec.Meta(pattern=UNIT_PATTERN),
            doc("Only this systemd unit (`nginx.service`); on syslog, its program name."),
        ]
        | None
    ) = None
    priority: Annotated[
        Priority | None, doc("Only entries at this level or more severe (journald only).")
    ] = None
    since: Annotated[
        str | None, doc("A duration back from now (`15m`, `2h`) or an RFC 3339 timestamp.")
    ] = None
    lines: Annotated[
        int,
        msgspec.Meta(ge=1, le=MAX_LINES),
        doc(f"The newest this many entries (1 to {MAX_LINES})."),
    ] = 100
    grep: (
        Annotated[
            str,
            msgspec.Meta(min_length=1, max_length=200),
            doc("Only messages matching this regular expression."),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if self.since is not None:
            parse_since(self.since)
        if self.grep is not None:
            try:
                re.compile(self.grep)
            except re.error as exc:
                raise ValueError(f"grep is not a regular expression: {exc}") from None


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the log results: a handler's dict with a key too many fails its test."""


class Entry(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timestamp: Annotated[str | None, doc("RFC 3339, UTC; null where a syslog line has none.")]
    message: str
    unit: Annotated[str | None, doc("The systemd unit (journald only).")] = None
    identifier: Annotated[str | None, doc("The program's syslog identifier.")] = None
    pid: int | None = None
    priority: Annotated[Priority | None, doc("journald only.")] = None
    hostname: str | None = None


class QueryResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Source
    path: Annotated[str | None, doc("The syslog file read; null for journald.")] = None
    entries: Annotated[list[Entry], doc("Oldest first.")]
    unapplied: Annotated[
        list[str], doc("Filters the source cannot apply (syslog has no priority).")
    ] = msgspec.field(default_factory=list)


class SourcesResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    journald: Annotated[bool, doc("journalctl is installed and the host keeps a journal.")]
    syslog: Annotated[list[str], doc("The syslog files present.")]
    default: Annotated[Source | None, doc("What `log.query` reads: journald first.")]
    units: Annotated[list[str], doc("The units that have logged to the journal.")]


_SOURCES = (
    " Reads journald through `journalctl` where the host keeps a journal (/var/log/journal"
    " or /run/log/journal), else the syslog file (/var/log/syslog, /var/log/messages);"
    " skipped on a host with neither."
)

FAMILY = Family(
    name="log",
    summary="The host's system log: journald, or the syslog file.",
    declarations=(
        Declaration(
            name="log.query",
            params=QueryParams,
            result=QueryResult,
            kind="read",
            summary="The newest log entries, filtered by unit, priority, time and pattern.",
            description=(
                "At most `lines` entries (1000), oldest first; messages longer than 4 KiB"
                " are cut. On a syslog file only its last 16 MiB are read, `unit` matches"
                " the program name (`nginx.service` and `nginx` alike), and `priority` is"
                " listed under `unapplied`." + _SOURCES
            ),
            example={"unit": "ssh.service", "priority": "warning", "since": "2h", "lines": 50},
        ),
        Declaration(
            name="log.sources",
            params=NoParams,
            result=SourcesResult,
            kind="read",
            summary="Which logs the host has, and the units that have logged.",
            description="Never skipped: a host with no log answers with none.",
        ),
    ),
)
