"""The built-in operations: their names, parameter structs and validation. No I/O.

Both sides use this table: the controller to reject a bad job at submit time,
the agent to check it again before running it (an agent never trusts that the
controller it talks to is as new as itself).

Parameter structs forbid unknown fields, unlike wire messages: a misspelt
``secnods`` in user data must be an error, not a silently ignored key.
Validation is strict, so ``"5"`` is not accepted where a number is expected;
an integer is accepted where a float is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

Seconds = Annotated[float, msgspec.Meta(gt=0)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# Marks a parameter whose value is secret: redacted in job records, API
# output and logs (common/redaction.py); the agent still gets the real value.
SECRET = msgspec.Meta(extra={"secret": True})


class Params(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every parameter struct."""


class NoParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """For operations that take no parameters: ``data`` must be ``{}``."""


class EchoParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data: Any = None


class SleepParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)]


class FailParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    message: str = "requested failure"


class CounterParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``path``: the absolute path of the counter file ``test.counter`` appends to."""

    path: NonEmpty

    def __post_init__(self) -> None:
        _check_absolute("path", self.path)


def _check_absolute(field: str, path: str | None) -> None:
    if path is not None and not path.startswith("/"):
        raise ValueError(f"{field} must be an absolute path, got {path!r}")


class DiskParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``path``: report only the filesystem holding this absolute path."""

    path: NonEmpty | None = None

    def __post_init__(self) -> None:
        _check_absolute("path", self.path)


class ExecParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run ``argv`` directly, never through a shell.

    ``env`` is laid over the agent's environment; ``timeout`` can only shorten
    the job's timeout; ``stdin`` is written to the command, which otherwise
    reads from ``/dev/null``.
    """

    argv: Annotated[list[NonEmpty], msgspec.Meta(min_length=1)]
    cwd: NonEmpty | None = None
    env: Annotated[dict[str, str], SECRET] | None = None
    timeout: Seconds | None = None
    stdin: Annotated[str, SECRET] | None = None

    def __post_init__(self) -> None:
        _check_absolute("cwd", self.cwd)
        # exec would fail on these later with a less helpful message.
        for i, arg in enumerate(self.argv):
            if "\0" in arg:
                raise ValueError(f"argv[{i}] contains a NUL character")
        for name, value in (self.env or {}).items():
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"env name {name!r} must be non-empty without '=' or NUL")
            if "\0" in value:
                raise ValueError(f"env value of {name!r} contains a NUL character")


@dataclass(frozen=True)
class OperationSpec:
    name: str
    params: type[Params]
    read_only: bool
    description: str
    # Off unless an agent's allow-list names it (a probe that writes files).
    opt_in: bool = False


def _spec(
    name: str,
    params: type[Params],
    description: str,
    *,
    read_only: bool = True,
    opt_in: bool = False,
) -> OperationSpec:
    return OperationSpec(
        name=name, params=params, read_only=read_only, description=description, opt_in=opt_in
    )


OPERATIONS: dict[str, OperationSpec] = {
    "test.ping": _spec("test.ping", NoParams, "Answer {pong: true}."),
    "test.echo": _spec("test.echo", EchoParams, "Return data unchanged."),
    "test.sleep": _spec("test.sleep", SleepParams, "Sleep for seconds (0 to 3600)."),
    "test.fail": _spec("test.fail", FailParams, "Fail with message."),
    "test.counter": _spec(
        "test.counter",
        CounterParams,
        "Append the job id to the file at path (fsynced); return the line count.",
        read_only=False,
        opt_in=True,
    ),
    "node.hostname.get": _spec("node.hostname.get", NoParams, "The agent's and system hostname."),
    "node.status.get": _spec(
        "node.status.get", NoParams, "Hostname, uptime, load, memory, disks and OS together."
    ),
    "node.uptime.get": _spec("node.uptime.get", NoParams, "Seconds since boot and boot time."),
    "node.load.get": _spec("node.load.get", NoParams, "Load averages and CPU count."),
    "node.memory.get": _spec("node.memory.get", NoParams, "Memory and swap in bytes."),
    "node.disk.get": _spec("node.disk.get", DiskParams, "Filesystem sizes in bytes."),
    "node.os.get": _spec("node.os.get", NoParams, "Kernel, architecture, distribution."),
    "command.exec": _spec(
        "command.exec", ExecParams, "Run a command (argv, no shell).", read_only=False
    ),
}


class OperationError(ValueError):
    """An unknown operation type or bad parameters; the message names the culprit."""


class OperationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a handler returns: JSON-able ``data`` and whether it changed the host."""

    data: Any = None
    changed: bool = False


def spec_for(op_type: str) -> OperationSpec:
    """The spec of ``op_type``, or :class:`OperationError` listing the known types."""
    try:
        return OPERATIONS[op_type]
    except KeyError:
        known = ", ".join(sorted(OPERATIONS))
        raise OperationError(f"unknown operation type {op_type!r}; known: {known}") from None


# msgspec ends its messages with " - at `$.path`" (or "`key` in `$.path`" for
# a bad mapping key); users know the field as operation.data.<path>.
_AT = re.compile(r"^(?P<msg>.*) - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`$", re.DOTALL)


def _rewrite(message: str) -> str:
    match = _AT.match(message)
    if match is None:
        return f"operation.data: {message}"
    where = f"operation.data{match['path']}"
    if match["key"]:
        where += " (key)"
    return f"{where}: {match['msg']}"


def validate_params(op_type: str, data: dict[str, Any]) -> Params:
    """Convert ``data`` into ``op_type``'s params struct or raise :class:`OperationError`."""
    spec = spec_for(op_type)
    try:
        return msgspec.convert(data, spec.params, strict=True)
    except msgspec.ValidationError as exc:
        raise OperationError(_rewrite(str(exc))) from None
