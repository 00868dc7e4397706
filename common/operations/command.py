"""The ``command`` family's declarations: run a program on the host. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated

import msgspec

from common.operations.declaration import (
    SECRET,
    Declaration,
    Family,
    NonEmpty,
    Params,
    Seconds,
    check_absolute,
    doc,
)


class ExecParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run ``argv`` directly, never through a shell."""

    argv: Annotated[
        list[NonEmpty], msgspec.Meta(min_length=1), doc("The program and its arguments.")
    ]
    cwd: Annotated[NonEmpty | None, doc("Absolute working directory.")] = None
    env: (
        Annotated[dict[str, str], SECRET, doc("Variables laid over the agent's environment.")]
        | None
    ) = None
    timeout: Annotated[Seconds | None, doc("Seconds; can only shorten the job's timeout.")] = None
    stdin: (
        Annotated[str, SECRET, doc("Written to the command; else it reads /dev/null.")] | None
    ) = None

    def __post_init__(self) -> None:
        check_absolute("cwd", self.cwd)
        # exec would fail on these later with a less helpful message.
        for i, arg in enumerate(self.argv):
            if "\0" in arg:
                raise ValueError(f"argv[{i}] contains a NUL character")
        check_env(self.env)


def check_env(env: dict[str, str] | None) -> None:
    """Names and values ``execve`` takes; it would fail on these later, less helpfully."""
    for name, value in (env or {}).items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(f"env name {name!r} must be non-empty without '=' or NUL")
        if "\0" in value:
            raise ValueError(f"env value of {name!r} contains a NUL character")


class ShellParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run ``script`` with ``shell -c``: the one operation that takes shell syntax."""

    script: Annotated[NonEmpty, doc("The shell script, run as `shell -c script`.")]
    shell: Annotated[NonEmpty, doc("Absolute path of the shell.")] = "/bin/sh"
    cwd: Annotated[NonEmpty | None, doc("Absolute working directory.")] = None
    env: (
        Annotated[dict[str, str], SECRET, doc("Variables laid over the agent's environment.")]
        | None
    ) = None
    timeout: Annotated[Seconds | None, doc("Seconds; can only shorten the job's timeout.")] = None

    def __post_init__(self) -> None:
        check_absolute("shell", self.shell)
        check_absolute("cwd", self.cwd)
        for name, value in (("script", self.script), ("shell", self.shell)):
            if "\0" in value:
                raise ValueError(f"{name} contains a NUL character")
        check_env(self.env)

    def as_exec(self) -> ExecParams:
        """The same run as ``command.exec`` params: the one machinery runs both."""
        return ExecParams(
            argv=[self.shell, "-c", self.script], cwd=self.cwd, env=self.env, timeout=self.timeout
        )


class WouldRun(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a dry run would have run; the secret values stay out."""

    argv: list[str]
    cwd: str | None
    env: Annotated[list[str], doc("Names of the variables it would set.")]
    stdin: Annotated[bool, doc("Whether it would write to the command's stdin.")]
    timeout: Annotated[float, doc("Seconds it would allow.")]


class ExecResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A run's output, or on a dry run only ``would_run``."""

    stdout: Annotated[str, doc("UTF-8, undecodable bytes replaced, capped.")] = ""
    stderr: Annotated[str, doc("Like stdout.")] = ""
    exit_code: Annotated[int | None, doc("Negative: killed by that signal. Null on a dry run.")] = (
        None
    )
    duration: Annotated[float, doc("Seconds.")] = 0.0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    would_run: Annotated[WouldRun | None, doc("Dry run only: what it would run.")] = None


FAMILY = Family(
    name="command",
    summary="Run programs on the host.",
    declarations=(
        Declaration(
            name="command.exec",
            params=ExecParams,
            result=ExecResult,
            kind="mutate",
            summary="Run a command (argv, no shell).",
            description=(
                "Runs `argv` directly, never through a shell, in its own process group:"
                " a timeout or a cancel kills everything it started. A non-zero exit code"
                " is a completed job; the caller decides what it means. Reported as"
                " changed, since corral cannot know what a command did. A dry run runs"
                " nothing, reports `changed: false` and what it would run in `would_run`."
            ),
            example={"argv": ["uname", "-a"], "timeout": 10},
            dry_run=True,
        ),
        Declaration(
            name="command.shell",
            params=ShellParams,
            result=ExecResult,
            kind="mutate",
            summary="Run a shell script (shell -c); opt-in.",
            description=(
                'Runs `[shell, "-c", script]` exactly like `command.exec` runs its argv:'
                " same process group, timeout, output caps and result. Shell syntax"
                " (pipes, globs, variables) is expanded here and only here, so it is"
                " off unless an agent's allow-list names `command.shell` (a `command.*`"
                " glob does not take it). A dry run runs nothing and reports what it"
                " would run in `would_run`."
            ),
            example={"script": "df -h / | tail -n 1", "timeout": 10},
            dry_run=True,
            opt_in=True,
        ),
    ),
)
