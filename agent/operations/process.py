"""The ``process.*`` operations: list, inspect, signal. I/O: reads /proc, sends signals.

Processes are the running kernel's whatever the host root, so /proc is
read live (agent/operations/host.py) and user names come from the live
name service (``pwd``), which also knows the directory users that the
root's /etc/passwd does not list.

A process can exit between any two reads: one that is gone half way
through is left out of a listing, and is "no such process" for get and
signal.
"""

from __future__ import annotations

import errno
import os
import pwd
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.operations.base import Handler, OperationContext, OperationFailed
from common.operations.declaration import OperationResult
from common.operations.process import CMDLINE_LIMIT, PidParams, ProcessListParams, SignalParams

PROC = Path("/proc")
# proc(5)'s one-letter states, in the words /proc/<pid>/status uses.
STATES = {
    "R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop",
    "Z": "zombie", "X": "dead", "x": "dead", "I": "idle", "K": "wakekill", "W": "waking",
    "P": "parked",
}  # fmt: skip
# Fields of /proc/<pid>/stat after the name, counted from the state (proc(5)'s 3).
_STATE, _PPID, _UTIME, _STIME, _THREADS, _STARTTIME, _RSS = 0, 1, 11, 12, 17, 19, 21


@dataclass(frozen=True)
class Clock:
    """What turns /proc's ticks and pages into seconds and bytes."""

    boot: float  # seconds since the epoch
    ticks: int  # per second
    page: int  # bytes

    @classmethod
    def now(cls) -> Clock:
        boot = 0.0
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                boot = float(line.split()[1])
        return cls(boot, os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE"))


def parse_stat(text: str) -> tuple[str, list[str]]:
    """/proc/<pid>/stat: the name, and the fields after it (from the state on).

    The name is in parentheses and may itself hold spaces and parentheses,
    so it ends at the last ``)``.
    """
    head, _, rest = text.rpartition(")")
    return head.partition("(")[2], rest.split()


def _stat(pid: int) -> tuple[str, list[str]] | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except OSError:  # gone (ENOENT, ESRCH), or hidden from us
        return None


def _effective_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # real, effective, saved, filesystem
    raise ValueError("no Uid line")


def _cmdline(raw: bytes) -> list[str]:
    """NUL-separated arguments; a program that rewrote its title may have just one."""
    text = raw[:CMDLINE_LIMIT].decode("utf-8", errors="replace")
    if not text:
        return []  # a kernel thread, or a zombie
    arguments = text.split("\0")
    return arguments[:-1] if arguments[-1] == "" else arguments


class Users:
    """uid -> name through the name service, each asked once per operation."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def name(self, uid: int) -> str:
        if uid not in self._names:
            try:
                self._names[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._names[uid] = str(uid)
        return self._names[uid]


def read_process(pid: int, clock: Clock, users: Users) -> dict[str, Any] | None:
    """One process as ``process.get`` answers it, or None when it is gone."""
    base = PROC / str(pid)
    try:
        name, fields = parse_stat((base / "stat").read_text())
        uid = _effective_uid((base / "status").read_text())
        raw = (base / "cmdline").read_bytes()
        return _record(pid, name, fields, uid, raw, clock, users)
    except (OSError, ValueError, IndexError):  # gone, or hidden from us (hidepid)
        return None


def _record(
    pid: int, name: str, fields: list[str], uid: int, raw: bytes, clock: Clock, users: Users
) -> dict[str, Any]:
    return {
        "pid": pid,
        "ppid": int(fields[_PPID]),
        "name": name,
        "cmdline": _cmdline(raw),
        "user": users.name(uid),
        "uid": uid,
        "state": STATES.get(fields[_STATE], fields[_STATE]),
        "threads": int(fields[_THREADS]),
        "rss": int(fields[_RSS]) * clock.page,
        "cpu_time": (int(fields[_UTIME]) + int(fields[_STIME])) / clock.ticks,
        "start_time": clock.boot + int(fields[_STARTTIME]) / clock.ticks,
    }


def _wanted_uid(user: str | None) -> int | None:
    """The uid ``user`` names (-1: nobody has that name), or None for any user."""
    if user is None:
        return None
    if user.isdigit():
        return int(user)
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return -1


def _named(process: dict[str, Any], name: str) -> bool:
    argv0 = process["cmdline"][0] if process["cmdline"] else ""
    return name in (process["name"], os.path.basename(argv0))


async def list_processes(params: ProcessListParams, ctx: OperationContext) -> OperationResult:
    clock, users, uid = Clock.now(), Users(), _wanted_uid(params.user)
    pids = sorted(int(entry) for entry in os.listdir(PROC) if entry.isdigit())
    matched = []
    for pid in pids:
        process = read_process(pid, clock, users)
        if process is None:
            continue
        if params.name is not None and not _named(process, params.name):
            continue
        if uid is not None and process["uid"] != uid:
            continue
        matched.append(process)
    data = {
        "processes": matched[: params.limit],
        "total": len(matched),
        "truncated": len(matched) > params.limit,
    }
    return OperationResult(data=data)


def _found(pid: int) -> dict[str, Any]:
    process = read_process(pid, Clock.now(), Users())
    if process is None:
        raise OperationFailed(f"no process with pid {pid}")
    return process


async def get_process(params: PidParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=_found(params.pid))


def send(pid: int, signum: int, started: str) -> None:
    """Signal ``pid`` if it is still the process that started at ``started`` ticks."""
    try:
        handle = os.pidfd_open(pid)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
        # A kernel before 5.3: the start time is checked, then a small race.
        _same(pid, started)
        os.kill(pid, signum)
        return
    try:
        # The pidfd pins the process: if its start time is still the one we
        # read, the pid was not reused in between, and no later reuse can
        # make the signal hit another process.
        _same(pid, started)
        signal.pidfd_send_signal(handle, signum)
    finally:
        os.close(handle)


def _same(pid: int, started: str) -> None:
    now = _stat(pid)
    if now is None or now[1][_STARTTIME] != started:
        raise ProcessLookupError(pid)


async def signal_process(params: SignalParams, ctx: OperationContext) -> OperationResult:
    pid = params.pid
    if pid == os.getpid():
        raise OperationFailed(f"pid {pid} is the agent itself; refusing to signal it")
    process, stat = _found(pid), _stat(pid)
    try:
        if stat is None:
            raise ProcessLookupError(pid)
        if ctx.dry_run:
            os.kill(pid, 0)  # sends nothing: checks it exists and that we may
        else:
            send(pid, getattr(signal, f"SIG{params.signal}"), stat[1][_STARTTIME])
    except ProcessLookupError:
        raise OperationFailed(f"no process with pid {pid}") from None
    except PermissionError:
        raise OperationFailed(
            f"not permitted to signal pid {pid} (it runs as {process['user']})"
        ) from None
    data = {"pid": pid, "name": process["name"], "signal": params.signal, "sent": not ctx.dry_run}
    return OperationResult(changed=True, data=data)


HANDLERS: dict[str, Handler] = {
    "process.list": list_processes,
    "process.get": get_process,
    "process.signal": signal_process,
}
