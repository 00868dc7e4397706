"""The ``process`` family's declarations: the host's processes, and signals to them. Pure: no I/O.

Sizes are bytes, times seconds (``start_time`` since the epoch, UTC).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NonEmpty, Params, doc

# The signals an administrator sends by hand; nothing that dumps core or
# that a program would take for a hardware fault.
SignalName = Literal["TERM", "KILL", "HUP", "INT", "USR1", "USR2", "STOP", "CONT"]
Pid = Annotated[int, msgspec.Meta(ge=1, le=2**22), doc("A process id.")]
# A whole command line can be as long as ARG_MAX; this is plenty to recognise it.
CMDLINE_LIMIT = 4096


class ProcessListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[
        NonEmpty | None, doc("Only processes of this name (as in `ps -o comm`, or argv[0]).")
    ] = None
    user: Annotated[NonEmpty | None, doc("Only processes running as this user (name or uid).")] = (
        None
    )
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=10000), doc("At most this many, lowest pids first.")
    ] = 500


class PidParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pid: Pid


class SignalParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pid: Pid
    signal: Annotated[SignalName, doc("Signal name, without SIG.")] = "TERM"

    def __post_init__(self) -> None:
        if self.pid == 1:
            raise ValueError("pid must not be 1: signalling init can take the host down")


class Process(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pid: int
    ppid: int
    name: Annotated[str, doc("The kernel's name for it (comm), at most 15 characters.")]
    cmdline: Annotated[
        list[str],
        doc(f"Its arguments, cut at {CMDLINE_LIMIT} bytes; empty for kernel threads."),
    ]
    user: Annotated[str, doc("Its effective user's name, or the uid when it has none.")]
    uid: int
    state: Annotated[str, doc("`running`, `sleeping`, `disk-sleep`, `stopped`, `zombie`...")]
    threads: int
    rss: Annotated[int, doc("Resident memory, bytes.")]
    cpu_time: Annotated[float, doc("User plus system CPU seconds.")]
    start_time: Annotated[float, doc("When it started, seconds since the epoch.")]


class ProcessListResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    processes: Annotated[list[Process], doc("By pid.")]
    total: Annotated[int, doc("How many matched, before `limit`.")]
    truncated: Annotated[bool, doc("Some matched processes were left out by `limit`.")]


class SignalResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pid: int
    name: Annotated[str, doc("The process's name when the signal was sent.")]
    signal: str
    sent: Annotated[bool, doc("False on a dry run.")]


FAMILY = Family(
    name="process",
    summary="The host's processes: list, inspect, signal.",
    declarations=(
        Declaration(
            name="process.list",
            params=ProcessListParams,
            result=ProcessListResult,
            kind="read",
            summary="Running processes, filtered by name or user.",
            description=(
                "Read live from /proc: pid, parent, name, command line, user, state, threads,"
                " resident memory, CPU time and start time. Threads are not listed apart."
                " Command lines can carry secrets a program was given as arguments: any"
                " local user sees them too, and so does this answer."
            ),
            example={"name": "sshd", "limit": 20},
        ),
        Declaration(
            name="process.get",
            params=PidParams,
            result=Process,
            kind="read",
            summary="One process by pid.",
            description="Like one entry of `process.list`; fails when there is no such process.",
            example={"pid": 4242},
        ),
        Declaration(
            name="process.signal",
            params=SignalParams,
            result=SignalResult,
            kind="mutate",
            summary="Send a signal to a process.",
            description=(
                "Sends TERM, KILL, HUP, INT, USR1, USR2, STOP or CONT. Refuses pid 1 and the"
                " agent's own pid. Sent through a pidfd checked to still be the process"
                " whose pid was asked, so a pid reused meanwhile is not hit. Fails when the"
                " process is gone or the agent may not signal it. Always reported changed;"
                " a dry run checks the same and sends nothing."
            ),
            example={"pid": 4242, "signal": "HUP"},
            dry_run=True,
        ),
    ),
)
