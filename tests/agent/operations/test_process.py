"""Tests for agent/operations/process.py, for real, on child processes the tests start.

Every child is a ``sleep`` this test started, ended by its pid at teardown.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from agent.operations import process
from agent.operations.base import OperationContext, OperationFailed
from agent.operations.registry import BUILTIN_HANDLERS
from common.operations.catalog import BUILTIN, validate_params
from common.operations.declaration import OperationError

SLEEP = shutil.which("sleep") or "/bin/sleep"
CTX = OperationContext(hostname="h", timeout=10)
DRY = OperationContext(hostname="h", timeout=10, dry_run=True)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A ``sleep`` whose argv[0] differs from its name (comm) ``sleep``."""
    # argv[0] is only a name here; the program run is the absolute SLEEP.
    sleeper = subprocess.Popen(["corral-test-sleeper", "600"], executable=SLEEP)  # noqa: S607
    yield sleeper
    if sleeper.poll() is None:
        os.kill(sleeper.pid, signal.SIGKILL)
    sleeper.wait()


async def run(name: str, data: dict[str, Any], ctx: OperationContext = CTX) -> tuple[bool, Any]:
    result = await BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    msgspec.convert(result.data, BUILTIN[name].result, strict=True)
    return result.changed, result.data


async def test_get_describes_a_child(child: subprocess.Popen[bytes]) -> None:
    changed, data = await run("process.get", {"pid": child.pid})
    assert changed is False
    assert {k: data[k] for k in ("pid", "ppid", "name", "cmdline", "uid", "threads")} == {
        "pid": child.pid,
        "ppid": os.getpid(),
        "name": "sleep",
        "cmdline": ["corral-test-sleeper", "600"],
        "uid": os.geteuid(),
        "threads": 1,
    }
    assert data["user"] == pwd.getpwuid(os.geteuid()).pw_name
    assert data["state"] in {"sleeping", "running"}
    assert data["rss"] > 0
    assert data["cpu_time"] >= 0
    assert process.Clock.now().boot < data["start_time"] <= time.time()


async def test_list_finds_a_child_by_name_argv0_or_user(child: subprocess.Popen[bytes]) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    for data in ({"name": "sleep"}, {"name": "corral-test-sleeper"}, {"user": me}):
        _, found = await run("process.list", {**data, "limit": 10000})
        assert child.pid in [p["pid"] for p in found["processes"]], data
    _, mine = await run("process.list", {"user": str(os.geteuid()), "limit": 10000})
    assert {p["uid"] for p in mine["processes"]} == {os.geteuid()}
    for other in ({"name": "no-such-program"}, {"user": "no-such-user-here"}):
        assert (await run("process.list", other))[1] == {
            "processes": [],
            "total": 0,
            "truncated": False,
        }


async def test_a_limit_keeps_the_lowest_pids_and_says_so(child: subprocess.Popen[bytes]) -> None:
    _, data = await run("process.list", {"limit": 1})
    assert len(data["processes"]) == 1
    assert data["total"] > 1  # this test and its child at least
    assert data["truncated"] is True
    assert data["processes"][0]["pid"] == min(int(e) for e in os.listdir("/proc") if e.isdigit())


async def test_signal_terminates_a_child(child: subprocess.Popen[bytes]) -> None:
    changed, data = await run("process.signal", {"pid": child.pid})
    assert changed is True
    assert data == {"pid": child.pid, "name": "sleep", "signal": "TERM", "sent": True}
    assert child.wait() == -signal.SIGTERM


async def test_stop_and_cont_show_in_the_state(child: subprocess.Popen[bytes]) -> None:
    await run("process.signal", {"pid": child.pid, "signal": "STOP"})
    await asyncio.to_thread(os.waitpid, child.pid, os.WUNTRACED)  # returns once it stopped
    assert (await run("process.get", {"pid": child.pid}))[1]["state"] == "stopped"
    await run("process.signal", {"pid": child.pid, "signal": "CONT"})
    await asyncio.to_thread(os.waitpid, child.pid, os.WCONTINUED)
    assert (await run("process.get", {"pid": child.pid}))[1]["state"] != "stopped"


async def test_a_dry_run_sends_nothing(child: subprocess.Popen[bytes]) -> None:
    changed, data = await run("process.signal", {"pid": child.pid, "signal": "KILL"}, DRY)
    assert changed is True
    assert data == {"pid": child.pid, "name": "sleep", "signal": "KILL", "sent": False}
    assert child.poll() is None


async def test_a_process_that_is_gone_fails_by_pid(child: subprocess.Popen[bytes]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for name in ("process.get", "process.signal"):
        with pytest.raises(OperationFailed, match=f"no process with pid {child.pid}"):
            await run(name, {"pid": child.pid})
    with pytest.raises(OperationFailed, match="no process"):
        await run("process.signal", {"pid": child.pid}, DRY)


def test_a_pid_reused_since_it_was_read_is_not_signalled(child: subprocess.Popen[bytes]) -> None:
    with pytest.raises(ProcessLookupError):
        process.send(child.pid, signal.SIGKILL, started="1")  # another process's start time
    assert child.poll() is None


async def test_the_agent_does_not_signal_itself() -> None:
    with pytest.raises(OperationFailed, match="is the agent itself"):
        await run("process.signal", {"pid": os.getpid(), "signal": "CONT"})


def test_a_name_with_spaces_and_parentheses_is_read_whole() -> None:
    name, fields = process.parse_stat("42 (a) b (c)) S 1 42 42 0 -1\n")
    assert (name, fields[:2]) == ("a) b (c)", ["S", "1"])


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("process.signal", {"pid": 1}, "operation.data.pid: must not be 1"),
        ("process.signal", {"pid": 0}, "operation.data.pid: Expected `int` >= 1"),
        ("process.signal", {"pid": 2, "signal": "SEGV"}, "operation.data.signal: Invalid enum"),
        ("process.signal", {"pid": "2"}, "operation.data.pid: Expected `int`, got `str`"),
        ("process.get", {}, "operation.data: Object missing required field `pid`"),
        ("process.list", {"limit": 0}, "operation.data.limit: Expected `int` >= 1"),
        ("process.list", {"name": ""}, "operation.data.name: Expected `str` of length >= 1"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    name: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(OperationError, match=re.escape(message)):
        validate_params(name, data)
