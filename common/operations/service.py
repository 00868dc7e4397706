"""The ``service`` family's declarations: systemd services and their unit files. Pure: no I/O.

Unit names are taken with or without their ``.service`` suffix (``nginx``
is ``nginx.service``); other unit types are refused, so a typo like
``nginx.socket`` does not silently become ``nginx.socket.service``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, Params, doc

SUFFIX = ".service"
# systemd's own limit (UNIT_NAME_MAX less the NUL).
NAME_MAX = 255
# The characters systemd allows in a unit name; "@" separates a template's
# name from an instance. A leading "-" would read as an option to systemctl,
# a leading "." make a hidden file.
_PLAIN = r"[A-Za-z0-9:_\\][A-Za-z0-9:_.\\-]*"
_UNIT_RE = re.compile(rf"{_PLAIN}(@[A-Za-z0-9:_.\\-]*)?")
_UNIT_FILE_RE = re.compile(rf"{_PLAIN}@?")
_OTHER_TYPES = (
    ".automount", ".device", ".mount", ".path", ".scope", ".slice", ".socket", ".swap",
    ".target", ".timer",
)  # fmt: skip

ActiveState = Literal[
    "active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance"
]


def service_unit(name: str) -> str:
    """``nginx`` -> ``nginx.service``; a name that has the suffix is kept."""
    return name if name.endswith(SUFFIX) else name + SUFFIX


def check_unit_name(field: str, name: str, *, unit_file: bool = False) -> None:
    """ValueError naming ``field`` unless ``name`` is a service's (or its unit file's) name.

    A unit file is named for a plain service or a template (``getty@``),
    never for an instance (``getty@tty1``), which has no file of its own.
    """
    stem = name.removesuffix(SUFFIX)
    if stem == name and name.endswith(_OTHER_TYPES):
        raise ValueError(f"{field} must name a service unit, got {name!r}")
    pattern = _UNIT_FILE_RE if unit_file else _UNIT_RE
    if not pattern.fullmatch(stem) or len(service_unit(name)) > NAME_MAX:
        what = "a template (name@)" if unit_file else "a template instance (name@instance)"
        raise ValueError(
            f"{field} must be a unit name like nginx or nginx.service: letters, digits"
            f" and :_.\\- ('.' and '-' not first), '@' for {what}, at most {NAME_MAX}"
            f" characters; got {name!r}"
        )


class ServiceListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pattern: Annotated[
        str | None, doc("Only units whose name matches this shell glob (`ssh*`).")
    ] = None
    state: Annotated[ActiveState | None, doc("Only units in this active state.")] = None


class UnitParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The service, with or without `.service` (`nginx`).")]

    def __post_init__(self) -> None:
        check_unit_name("name", self.name)


class UnitFileParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The service (`myapp` or `myapp.service`; `myapp@` for a template).")]
    content: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=1024 * 1024),
        doc("The whole unit file; it needs a `[Service]` section."),
    ]

    def __post_init__(self) -> None:
        check_unit_name("name", self.name, unit_file=True)
        if "\0" in self.content:
            raise ValueError("content contains a NUL character")
        if not re.search(r"^\s*\[Service\]\s*$", self.content, re.MULTILINE):
            raise ValueError("content must have a [Service] section")


class UnitFileName(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The service whose unit file goes (`myapp`).")]

    def __post_init__(self) -> None:
        check_unit_name("name", self.name, unit_file=True)


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the service results: a handler's dict with a key too many fails its test."""


class Service(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The unit, `nginx.service`.")]
    description: str
    load_state: Annotated[
        str | None, doc("`loaded`, `not-found`, `masked`...; null: a unit file not loaded.")
    ]
    active_state: Annotated[str, doc("`active`, `inactive`, `failed`...")]
    sub_state: Annotated[str, doc("`running`, `exited`, `dead`...")]
    unit_file_state: Annotated[
        str | None, doc("`enabled`, `disabled`, `static`, `masked`...; null: no unit file.")
    ]


class ServiceListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    services: Annotated[list[Service], doc("Sorted by name.")]


class ServiceDetail(Service, frozen=True, kw_only=True, forbid_unknown_fields=True):
    unit_file_preset: Annotated[str | None, doc("What the distribution's presets say.")]
    main_pid: Annotated[int | None, doc("Null when it has no main process.")]
    fragment_path: Annotated[str | None, doc("The unit file systemd loaded.")]
    drop_in_paths: list[str]
    result: Annotated[str, doc("How it last ended: `success`, `exit-code`, `signal`...")]
    restarts: Annotated[int | None, doc("Automatic restarts since it was started.")]
    active_since: Annotated[str | None, doc("When it last became active, as systemd says.")]
    memory: Annotated[int | None, doc("Bytes its cgroup uses, when accounted.")]


class StateChange(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: str
    after: str


class ChangeResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The unit, `nginx.service`.")]
    diff: Annotated[
        StateChange, doc("Its active state (start, stop...) or unit file state (enable, disable).")
    ]


class UnitFileResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    path: Annotated[str, doc("Under /etc/systemd/system.")]
    diff: Annotated[str, doc("Unified diff of the unit file; empty when unchanged.")]


class UnitDeleteResult(UnitFileResult, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stopped: Annotated[bool, doc("It was running, and was (or would be) stopped first.")]
    disabled: Annotated[bool, doc("It was enabled, and was (or would be) disabled first.")]


def _unit_call(name: str, summary: str, description: str) -> Declaration:
    return Declaration(
        name=name,
        params=UnitParams,
        result=ChangeResult,
        kind="mutate",
        summary=summary,
        description=description,
        example={"name": "nginx"},
        dry_run=True,
    )


_SKIPPED = " Skipped where systemd is not running."
_UNIT_EXAMPLE = {
    "name": "myapp",
    "content": (
        "[Unit]\nDescription=My app\n\n[Service]\nExecStart=/usr/local/bin/myapp\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ),
}

FAMILY = Family(
    name="service",
    summary="systemd services: state, start and stop, enablement, unit files.",
    declarations=(
        Declaration(
            name="service.list",
            params=ServiceListParams,
            result=ServiceListResult,
            kind="read",
            summary="Every service unit with its state.",
            description=(
                "The service units systemd has loaded (`systemctl list-units --all`) and the"
                " service unit files it has not, with each one's unit file state"
                " (`systemctl list-unit-files`). Template unit files (`getty@.service`) are"
                " left out; their loaded instances are listed." + _SKIPPED
            ),
            example={"pattern": "ssh*"},
        ),
        Declaration(
            name="service.get",
            params=UnitParams,
            result=ServiceDetail,
            kind="read",
            summary="One service's state, unit file and main process.",
            description=(
                "From `systemctl show`. A unit systemd does not know (`not-found`) fails."
                + _SKIPPED
            ),
            example={"name": "ssh"},
        ),
        _unit_call(
            "service.start",
            "Start a service unless it is running.",
            "Unchanged when the unit is already active (or activating or reloading). Waits"
            " for the start job; a unit that fails to start fails the operation. `diff`:"
            " the active state before and after." + _SKIPPED,
        ),
        _unit_call(
            "service.stop",
            "Stop a service unless it is stopped.",
            "Unchanged when the unit is inactive or failed. `diff`: the active state before"
            " and after." + _SKIPPED,
        ),
        _unit_call(
            "service.restart",
            "Restart a service (starts it when stopped).",
            "Always changes the host: a restart is an event, not a state. `diff`: the"
            " active state before and after." + _SKIPPED,
        ),
        _unit_call(
            "service.reload",
            "Make a running service reload its configuration.",
            "Always changes the host. Fails when the unit is not active or cannot reload"
            " (`CanReload=no`); use `service.restart` then." + _SKIPPED,
        ),
        _unit_call(
            "service.enable",
            "Enable a service at boot unless it is enabled.",
            "Compares the unit file state first: unchanged when `enabled`. Fails for a unit"
            " file that cannot be enabled (`static`, `masked`, `indirect`, `generated`,"
            " `transient`, none). Does not start it. `diff`: the unit file state." + _SKIPPED,
        ),
        _unit_call(
            "service.disable",
            "Disable a service at boot unless it is not enabled.",
            "Unchanged unless the unit file state is `enabled`, `enabled-runtime`, `linked`"
            " or `linked-runtime`. Does not stop it. `diff`: the unit file state." + _SKIPPED,
        ),
        Declaration(
            name="service.unit.create",
            params=UnitFileParams,
            result=UnitFileResult,
            kind="mutate",
            summary="Write a new unit file and reload systemd.",
            description=(
                "Writes /etc/systemd/system/<name>.service (0644, atomically), then"
                " `systemctl daemon-reload`. Unchanged when the file already has this"
                " content; fails when it exists with other content (use"
                " `service.unit.update`). Neither enables nor starts the unit." + _SKIPPED
            ),
            example=_UNIT_EXAMPLE,
            dry_run=True,
        ),
        Declaration(
            name="service.unit.update",
            params=UnitFileParams,
            result=UnitFileResult,
            kind="mutate",
            summary="Replace an existing unit file and reload systemd.",
            description=(
                "Rewrites /etc/systemd/system/<name>.service atomically, keeping its mode"
                " and owner, then `systemctl daemon-reload`; fails when there is no such"
                " file (use `service.unit.create`). Unchanged when the content is the same."
                " Does not restart the unit." + _SKIPPED
            ),
            example=_UNIT_EXAMPLE,
            dry_run=True,
        ),
        Declaration(
            name="service.unit.delete",
            params=UnitFileName,
            result=UnitDeleteResult,
            kind="mutate",
            summary="Stop, disable and remove a unit file, then reload systemd.",
            description=(
                "A unit that is running is stopped and one that is enabled is disabled"
                " first, so nothing is left running without its file; then"
                " /etc/systemd/system/<name>.service goes and systemd reloads. Unchanged"
                " when there is no such file (units shipped under /usr/lib are never"
                " touched)." + _SKIPPED
            ),
            example={"name": "myapp"},
            dry_run=True,
        ),
    ),
)
