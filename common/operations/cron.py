"""The ``cron`` family's declarations: corral's jobs in /etc/cron.d. Pure: no I/O.

A job is one file, /etc/cron.d/corral-<name>, holding its environment lines
and one entry: a schedule, the user it runs as and the command. The
schedule is five fields checked one by one (what vixie cron and cronie
both accept) or a macro; an ``interval`` is a shorthand for the schedules
that run at a steady rate:

- ``<N>m``, N dividing 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30): ``*/N * * * *``
- ``<N>h``, N dividing 24 (1, 2, 3, 4, 6, 8, 12): ``0 */N * * *``
- ``1d``: ``0 0 * * *``

Other steps would not be steady: ``*/45`` runs at :00 and :45, 15 minutes apart.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

CRON_DIR = "/etc/cron.d"
PREFIX = "corral-"
# run-parts' rule, which Debian's cron applies to /etc/cron.d: no dots.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
USER_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMAND_MAX = 4096
MACROS = frozenset(
    {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names counted from lowest)
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
INTERVAL_RE = re.compile(r"(?P<n>[1-9][0-9]*)(?P<unit>[mhd])")


def file_of(name: str) -> str:
    return f"{CRON_DIR}/{PREFIX}{name}"


def _number(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return low + names.index(text.lower())
    if not text.isdigit():
        raise ValueError(
            f"schedule: {field} {text!r} is not a number" + (" or a name" if names else "")
        )
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"schedule: {field} {value} is out of {low}-{high}")
    return value


def _check_item(item: str, field: str, low: int, high: int, names: tuple[str, ...]) -> None:
    span, slash, step = item.partition("/")
    if slash and (not step.isdigit() or not 1 <= int(step) <= high):
        raise ValueError(f"schedule: {field} step {step!r} must be a number from 1 to {high}")
    if span == "*":
        return
    first, dash, last = span.partition("-")
    start = _number(first, field, low, high, names)
    if dash and start > _number(last, field, low, high, names):
        raise ValueError(f"schedule: {field} range {span!r} runs backwards")
    if slash and not dash:
        raise ValueError(f"schedule: {field} step {item!r} needs a range or '*' before '/'")


def check_schedule(schedule: str) -> None:
    """ValueError naming ``schedule`` and the field at fault."""
    if schedule in MACROS:
        return
    if schedule.startswith("@"):
        raise ValueError(
            f"schedule: unknown macro {schedule!r}; known: {', '.join(sorted(MACROS))}"
        )
    parts = schedule.split()
    if len(parts) != len(FIELDS):
        raise ValueError(
            f"schedule must have 5 fields (minute hour day-of-month month day-of-week)"
            f" or be a macro like @daily, got {schedule!r}"
        )
    for part, (field, low, high, names) in zip(parts, FIELDS, strict=True):
        for item in part.split(","):
            _check_item(item, field, low, high, names)


def schedule_of(interval: str) -> str:
    """The cron schedule of an interval; ValueError naming ``interval`` when it has none."""
    match = INTERVAL_RE.fullmatch(interval)
    if match is None:
        raise ValueError(f"interval must be <N>m, <N>h or 1d (like 15m), got {interval!r}")
    n, unit = int(match["n"]), match["unit"]
    if unit == "m" and 60 % n == 0:
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if unit == "h" and 24 % n == 0:
        return "0 * * * *" if n == 1 else f"0 */{n} * * *"
    if unit == "d" and n == 1:
        return "0 0 * * *"
    steady = {"m": "N dividing 60", "h": "N dividing 24", "d": "only 1d"}[unit]
    raise ValueError(
        f"interval {interval!r} would not run at a steady rate ({steady}); give a schedule"
    )


def _check_line(name: str, text: str) -> None:
    if any(c in text for c in "\n\r\0"):
        raise ValueError(f"{name} must be one line without NUL characters")


def check_job_fields(
    *,
    schedule: str | None,
    interval: str | None,
    user: str | None,
    command: str | None,
    env: dict[str, str] | None,
) -> None:
    if schedule is not None and interval is not None:
        raise ValueError("schedule and interval: give one, not both")
    if schedule is not None:
        _check_line("schedule", schedule)
        check_schedule(" ".join(schedule.split()))
    if interval is not None:
        schedule_of(interval)
    if user is not None and not USER_RE.fullmatch(user):
        raise ValueError(f"user must match {USER_RE.pattern}, got {user!r}")
    if command is not None:
        _check_line("command", command)
        if not command.strip() or len(command) > COMMAND_MAX:
            raise ValueError(f"command must be non-blank and at most {COMMAND_MAX} characters")
    for key, value in (env or {}).items():
        if not ENV_NAME_RE.fullmatch(key):
            raise ValueError(f"env name {key!r} must match {ENV_NAME_RE.pattern}")
        _check_line(f"env value of {key}", value)


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise ValueError(
            f"name must match ^{NAME_RE.pattern}$ (cron skips files with dots), got {name!r}"
        )


_NAME = doc("The job's name: its file is /etc/cron.d/corral-<name>.")
_SCHEDULE = doc("Five fields (`*/5 * * * *`, names like `mon-fri` allowed) or a macro (`@daily`).")
_INTERVAL = doc("Instead of a schedule: `<N>m` (N divides 60), `<N>h` (N divides 24) or `1d`.")
_USER = doc("Who runs the command.")
_COMMAND = doc("Run by /bin/sh; corral escapes `%`, which cron would turn into a newline.")
_ENV = doc("Variables set for the command (lines `NAME=value` before the entry).")


class NameParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, _NAME]

    def __post_init__(self) -> None:
        check_name(self.name)


class CreateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, _NAME]
    command: Annotated[str, _COMMAND]
    schedule: Annotated[str | None, _SCHEDULE] = None
    interval: Annotated[str | None, _INTERVAL] = None
    user: Annotated[str, _USER] = "root"
    env: Annotated[dict[str, str], _ENV] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.schedule is None and self.interval is None:
            raise ValueError("schedule or interval: give one")
        check_job_fields(
            schedule=self.schedule,
            interval=self.interval,
            user=self.user,
            command=self.command,
            env=self.env,
        )


class UpdateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What is left out stays as it is."""

    name: Annotated[str, _NAME]
    command: Annotated[str | None, _COMMAND] = None
    schedule: Annotated[str | None, _SCHEDULE] = None
    interval: Annotated[str | None, _INTERVAL] = None
    user: Annotated[str | None, _USER] = None
    env: Annotated[dict[str, str] | None, doc("Replaces the job's variables when given.")] = None

    def __post_init__(self) -> None:
        check_name(self.name)
        check_job_fields(
            schedule=self.schedule,
            interval=self.interval,
            user=self.user,
            command=self.command,
            env=self.env,
        )


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the cron results: a handler's dict with a key too many fails its test."""


class Job(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    file: str
    schedule: str
    interval: Annotated[str | None, doc("The interval it was created with, if one was.")]
    user: str
    command: Annotated[str, doc("As given (cron's `%` escapes removed).")]
    env: dict[str, str]


class Entry(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    schedule: str
    user: str
    command: Annotated[str, doc("As written in the file.")]


class OtherFile(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    file: str
    env: dict[str, str]
    entries: list[Entry]


class ListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    jobs: Annotated[list[Job], doc("corral's jobs, by name.")]
    other_files: Annotated[
        list[OtherFile],
        doc("The other files of /etc/cron.d, read-only: corral never changes them."),
    ]


class ChangeResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    file: str
    job: Annotated[
        Job | None, doc("The job as it is now (would be, on a dry run); null once deleted.")
    ]
    diff: Annotated[str, doc("Unified diff of the file.")]


_WHERE = (
    " Jobs live in /etc/cron.d/corral-<name> (mode 0644), written atomically and only"
    " when they differ; cron picks changes up by itself. A host without cron (or crond)"
    " is skipped."
)

FAMILY = Family(
    name="cron",
    summary="Scheduled commands: corral's drop-ins in /etc/cron.d.",
    declarations=(
        Declaration(
            name="cron.list",
            params=NoParams,
            result=ListResult,
            kind="read",
            summary="corral's cron jobs, and the other files of /etc/cron.d.",
            description="corral's jobs parsed, and every other file's entries, read-only." + _WHERE,
        ),
        Declaration(
            name="cron.get",
            params=NameParams,
            result=Job,
            kind="read",
            summary="One of corral's cron jobs.",
            description="A name corral has no job for fails." + _WHERE,
            example={"name": "backup"},
        ),
        Declaration(
            name="cron.create",
            params=CreateParams,
            result=ChangeResult,
            kind="mutate",
            summary="Add a cron job.",
            description=(
                "Creating the same job again changes nothing; a job of that name with other"
                " content fails (use cron.update)." + _WHERE
            ),
            example={
                "name": "backup",
                "interval": "15m",
                "user": "backup",
                "command": "/usr/local/bin/backup --quiet",
                "env": {"MAILTO": ""},
            },
            dry_run=True,
        ),
        Declaration(
            name="cron.update",
            params=UpdateParams,
            result=ChangeResult,
            kind="mutate",
            summary="Change a cron job; what is left out stays.",
            description="A name corral has no job for fails (use cron.create)." + _WHERE,
            example={"name": "backup", "schedule": "30 2 * * mon-fri"},
            dry_run=True,
        ),
        Declaration(
            name="cron.delete",
            params=NameParams,
            result=ChangeResult,
            kind="mutate",
            summary="Remove a cron job.",
            description="Removing a job that is not there changes nothing." + _WHERE,
            example={"name": "backup"},
            dry_run=True,
        ),
    ),
)
