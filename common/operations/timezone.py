"""The ``timezone`` family's declarations: the host's time zone. Pure: no I/O.

A zone is an IANA name (``Europe/Paris``, ``UTC``, ``America/Argentina/Salta``);
whether it exists is up to the host's tzdata, so the agent checks that.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

ZONE_RE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
ZONE_MAX = 128


class SetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timezone: Annotated[str, doc("An IANA zone name (`Europe/Paris`, `UTC`).")]

    def __post_init__(self) -> None:
        if len(self.timezone) > ZONE_MAX or not ZONE_RE.fullmatch(self.timezone):
            raise ValueError(
                "timezone must be an IANA zone name like Europe/Paris (letters, digits,"
                f" '_', '+', '-' between slashes), got {self.timezone!r}"
            )


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the timezone results: a handler's dict with a key too many fails its test."""


class Timedated(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What ``timedatectl show`` says."""

    timezone: str | None = None
    local_rtc: Annotated[bool | None, doc("The hardware clock keeps local time, not UTC.")] = None
    ntp: Annotated[bool | None, doc("NTP synchronization is enabled.")] = None
    ntp_synchronized: bool | None = None
    time: Annotated[str | None, doc("The local time, as timedatectl prints it.")] = None


class GetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timezone: Annotated[
        str | None, doc("The zone in effect: /etc/localtime's, else /etc/timezone's.")
    ]
    localtime: Annotated[str | None, doc("Where the /etc/localtime symlink points.")]
    etc_timezone: Annotated[str | None, doc("The content of /etc/timezone (Debian), if present.")]
    timedatectl: Annotated[Timedated | None, doc("Null unless systemd runs.")]


class Change(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: str | None
    after: str


class SetResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timezone: str
    via: Annotated[
        Literal["timedatectl", "files"],
        doc("`timedatectl set-timezone`, or the /etc/localtime link and /etc/timezone."),
    ]
    diff: Change


FAMILY = Family(
    name="timezone",
    summary="The host's time zone: /etc/localtime, /etc/timezone and timedatectl.",
    declarations=(
        Declaration(
            name="timezone.get",
            params=NoParams,
            result=GetResult,
            kind="read",
            summary="The host's time zone.",
            description=(
                "From the /etc/localtime symlink (and /etc/timezone on Debian), plus"
                " `timedatectl show` when systemd runs."
            ),
        ),
        Declaration(
            name="timezone.set",
            params=SetParams,
            result=SetResult,
            kind="mutate",
            summary="Set the host's time zone.",
            description=(
                "The zone must exist in the host's /usr/share/zoneinfo (a host without"
                " tzdata is skipped). With systemd running, `timedatectl set-timezone`;"
                " otherwise /etc/localtime is relinked atomically. /etc/timezone is"
                " rewritten when the host has one (Debian). Nothing is done when the zone"
                " is already set; `diff` holds the zone before and after."
            ),
            example={"timezone": "Europe/Paris"},
            dry_run=True,
        ),
    ),
)
