"""Tests for agent/operations/*.py and agent/operations/registry.py, run against this Linux host.

The process-group tests learn the shell's pid through a FIFO the test holds
open, so they wait for a signal instead of sleeping. Killed grandchildren are
orphans that only the host's init can reap, and some inits (in containers)
never do, so "gone" means: no member of the group is still running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.operations import command, node
from agent.operations.base import OperationContext, OperationFailed
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.command import ExecParams

CTX = OperationContext(hostname="agent-1.example.com", timeout=30.0, max_output_bytes=1024)


async def run(op_type: str, data: dict[str, Any], ctx: OperationContext = CTX) -> Any:
    result = await HANDLERS[op_type](validate_params(op_type, data), ctx)
    assert result.changed is (not OPERATIONS[op_type].read_only)
    return result.data


# test.*


async def test_ping_answers_pong() -> None:
    assert await run("test.ping", {}) == {"pong": True}


async def test_echo_returns_its_data() -> None:
    assert await run("test.echo", {"data": {"a": [1, "b"]}}) == {"a": [1, "b"]}


async def test_sleep_reports_what_it_slept() -> None:
    assert await run("test.sleep", {"seconds": 0}) == {"slept": 0.0}


async def test_fail_fails_with_the_message() -> None:
    with pytest.raises(OperationFailed) as info:
        await run("test.fail", {"message": "on purpose"})
    assert info.value.message == "on purpose"


# node.*

MEMORY_KEYS = {"total", "available", "used", "free", "buffers", "cached"}
MEMORY_KEYS |= {"swap_total", "swap_free", "swap_used"}
LOAD_KEYS = {"load1", "load5", "load15", "cpu_count", "processes_running", "processes_total"}
OS_KEYS = {"system", "kernel", "kernel_version", "arch", "python"}
OS_KEYS |= {"distribution", "distribution_id", "distribution_version"}
FS_KEYS = {"mountpoint", "device", "fstype", "total", "used", "free", "available", "used_percent"}


async def test_hostname_gives_the_configured_and_the_system_name() -> None:
    data = await run("node.hostname.get", {})
    assert data == {
        "hostname": "agent-1.example.com",
        "system_hostname": socket.gethostname(),
        "static_hostname": node.static_hostname(Host()),
    }


async def test_uptime_is_seconds_since_boot() -> None:
    data = await run("node.uptime.get", {})
    assert data.keys() == {"uptime", "boot_time"}
    assert data["uptime"] > 0
    assert 0 < data["boot_time"] < 1e10


async def test_load_has_averages_and_cpu_count() -> None:
    data = await run("node.load.get", {})
    assert data.keys() == LOAD_KEYS
    assert data["cpu_count"] == os.cpu_count()


async def test_memory_is_in_bytes() -> None:
    data = await run("node.memory.get", {})
    assert data.keys() == MEMORY_KEYS
    assert data["total"] >= data["available"] > 0
    assert data["used"] == data["total"] - data["available"]


async def test_disk_lists_real_filesystems_only() -> None:
    data = await run("node.disk.get", {})
    assert data.keys() == {"filesystems", "unavailable"}
    assert data["filesystems"], "no filesystem at all"
    for fs in data["filesystems"]:
        assert fs.keys() == FS_KEYS
        assert fs["fstype"] not in node.PSEUDO_FILESYSTEMS
        assert fs["total"] >= fs["used"]
    assert "/proc" not in {fs["mountpoint"] for fs in data["filesystems"]}


async def test_disk_with_a_path_reports_its_filesystem(tmp_path: Path) -> None:
    data = await run("node.disk.get", {"path": str(tmp_path)})
    [fs] = data["filesystems"]
    assert fs.keys() == FS_KEYS | {"path"}
    assert fs["path"] == str(tmp_path)
    assert str(tmp_path).startswith(fs["mountpoint"])
    assert fs["total"] > 0


async def test_disk_with_a_missing_path_fails(tmp_path: Path) -> None:
    with pytest.raises(OperationFailed, match=r"cannot stat .*/missing"):
        await run("node.disk.get", {"path": str(tmp_path / "missing")})


async def test_os_names_kernel_and_distribution() -> None:
    data = await run("node.os.get", {})
    assert data.keys() == OS_KEYS
    assert data["system"] == "Linux"
    assert data["python"] == ".".join(map(str, sys.version_info[:3]))


async def test_status_combines_the_others() -> None:
    data = await run("node.status.get", {})
    assert data["hostname"] == CTX.hostname
    assert data["memory"].keys() == MEMORY_KEYS
    assert data["load"].keys() == LOAD_KEYS
    assert data["os"].keys() == OS_KEYS
    assert data["uptime"].keys() == {"uptime", "boot_time"}
    assert data["disk"].keys() == {"filesystems", "unavailable"}


def test_mount_points_with_spaces_are_unescaped() -> None:
    assert node._unescape(r"/mnt/my\040disk") == "/mnt/my disk"


# command.exec

RESULT_KEYS = {"stdout", "stderr", "exit_code", "duration", "stdout_truncated", "stderr_truncated"}


async def test_argv_is_passed_literally_not_through_a_shell() -> None:
    data = await run("command.exec", {"argv": ["echo", "$(id); rm -rf /"]})
    assert data.keys() == RESULT_KEYS
    assert data["stdout"] == "$(id); rm -rf /\n"
    assert data["exit_code"] == 0


async def test_a_non_zero_exit_code_is_reported_not_failed() -> None:
    data = await run("command.exec", {"argv": ["sh", "-c", "echo oops >&2; exit 3"]})
    assert data["exit_code"] == 3
    assert data["stderr"] == "oops\n"


async def test_big_output_is_capped_and_flagged() -> None:
    script = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('e' * 10)"
    data = await run("command.exec", {"argv": [sys.executable, "-c", script]})
    assert data["stdout"] == "x" * 1024
    assert data["stdout_truncated"] is True
    assert data["stderr"] == "e" * 10
    assert data["stderr_truncated"] is False
    assert data["exit_code"] == 0


async def test_undecodable_output_is_replaced() -> None:
    script = "import sys; sys.stdout.buffer.write(b'ok\\xff')"
    data = await run("command.exec", {"argv": [sys.executable, "-c", script]})
    assert data["stdout"] == "ok\ufffd"


async def test_stdin_env_and_cwd_reach_the_command(tmp_path: Path) -> None:
    data = await run(
        "command.exec",
        {
            "argv": ["sh", "-c", 'cat; echo " $CORRAL_TEST_VAR $(pwd)"'],
            "stdin": "from stdin",
            "env": {"CORRAL_TEST_VAR": "set"},
            "cwd": str(tmp_path),
        },
    )
    assert data["stdout"] == f"from stdin set {tmp_path}\n"


async def test_the_agents_own_settings_do_not_reach_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORRAL_NATS_URL", "nats://agent:secret-pw@127.0.0.1:4222")
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("CORRAL_INNOCENT_LOOKING", "x")
    data = await run("command.exec", {"argv": ["env"]})
    assert "secret-pw" not in data["stdout"]
    assert "NOTIFY_SOCKET" not in data["stdout"]
    assert "CORRAL_" not in data["stdout"]
    assert "PATH=" in data["stdout"]  # the rest of the environment is kept


async def test_without_stdin_the_command_reads_nothing() -> None:
    data = await run("command.exec", {"argv": ["cat"]})
    assert data["stdout"] == ""


async def test_a_missing_executable_fails() -> None:
    with pytest.raises(OperationFailed, match=r"^executable not found: no-such-program-x$"):
        await run("command.exec", {"argv": ["no-such-program-x"]})


async def test_a_missing_working_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(OperationFailed, match=r"^working directory not found: "):
        await run("command.exec", {"argv": ["ls"], "cwd": str(tmp_path / "gone")})


def _group_states(pgid: int) -> dict[int, str]:
    """pid -> state letter of every process in process group ``pgid``."""
    states: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # The command name may contain spaces and parentheses; fields follow the last ')'.
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == pgid:
            states[int(entry.name)] = state
    return states


def _running(pgid: int) -> set[int]:
    return {pid for pid, state in _group_states(pgid).items() if state not in "ZX"}


async def _wait_exited(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(fd, exited.set)  # a pidfd becomes readable when the process exits
    try:
        await exited.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def _assert_group_gone(pgid: int) -> None:
    # SIGKILL is delivered asynchronously: wait for each member to exit.
    try:
        async with asyncio.timeout(5):
            for pid in _group_states(pgid):
                await _wait_exited(pid)
    except TimeoutError:
        pytest.fail(f"still running in group {pgid}: {sorted(_running(pgid))}")
    assert _running(pgid) == set()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return
    # The group still exists only as zombies waiting for init to reap them.
    assert set(_group_states(pgid).values()) <= {"Z", "X"}


@pytest.fixture
async def fifo(tmp_path: Path) -> AsyncIterator[tuple[str, asyncio.Queue[str]]]:
    """A FIFO and the lines written to it. Held open read-write, so writers never block."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    lines: asyncio.Queue[str] = asyncio.Queue()
    buffer = bytearray()

    def readable() -> None:
        buffer.extend(os.read(fd, 4096))
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            lines.put_nowait(line.decode())

    loop = asyncio.get_running_loop()
    loop.add_reader(fd, readable)
    try:
        yield str(path), lines
    finally:
        loop.remove_reader(fd)
        os.close(fd)


# Two background sleeps and a wait: the shell's group has three processes
# when it reports its pid (the forks have happened by then).
SPAWN_TREE = 'sleep 1000 & sleep 1000 & echo "$$" > "$1"; wait'


async def _shell_pgid(lines: asyncio.Queue[str]) -> int:
    async with asyncio.timeout(10):
        pid = int(await lines.get())
    pgid = os.getpgid(pid)
    assert pgid == pid, "the command must lead its own process group"
    assert len(_running(pgid)) == 3
    return pgid


async def test_a_timeout_kills_the_whole_process_group(
    fifo: tuple[str, asyncio.Queue[str]],
) -> None:
    path, lines = fifo
    params = ExecParams(argv=["sh", "-c", SPAWN_TREE, "sh", path], timeout=1)
    task = asyncio.create_task(command.exec_command(params, CTX))
    pgid = await _shell_pgid(lines)
    with pytest.raises(OperationFailed, match=r"^command timed out after 1s$"):
        await task
    await _assert_group_gone(pgid)


async def test_the_job_timeout_bounds_the_command_timeout(
    fifo: tuple[str, asyncio.Queue[str]],
) -> None:
    path, lines = fifo
    params = ExecParams(argv=["sh", "-c", SPAWN_TREE, "sh", path], timeout=600)
    ctx = OperationContext(hostname="h", timeout=1.5)
    task = asyncio.create_task(command.exec_command(params, ctx))
    pgid = await _shell_pgid(lines)
    with pytest.raises(OperationFailed, match=r"^command timed out after 1\.5s$"):
        await task
    await _assert_group_gone(pgid)


async def test_cancellation_kills_the_whole_process_group(
    fifo: tuple[str, asyncio.Queue[str]],
) -> None:
    path, lines = fifo
    params = ExecParams(argv=["sh", "-c", SPAWN_TREE, "sh", path])
    task = asyncio.create_task(command.exec_command(params, CTX))
    pgid = await _shell_pgid(lines)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _assert_group_gone(pgid)


# Forks a child that leaves the session (out of killpg's reach) but keeps
# stdout open, reports its pid, and sleeps; the parent waits for it.
ESCAPE = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    with open(sys.argv[1], "w") as fifo:
        fifo.write(f"{os.getpid()}\\n")
    time.sleep(1000)
else:
    os.wait()
"""


async def test_a_process_that_escapes_the_group_cannot_wedge_the_command(
    fifo: tuple[str, asyncio.Queue[str]],
) -> None:
    path, lines = fifo
    params = ExecParams(argv=[sys.executable, "-c", ESCAPE, path], timeout=1)
    task = asyncio.create_task(command.exec_command(params, CTX))
    async with asyncio.timeout(10):
        escaped = int(await lines.get())
    try:
        async with asyncio.timeout(10):
            with pytest.raises(OperationFailed, match=r"^command timed out after 1s$"):
                await task
    finally:
        os.kill(escaped, signal.SIGKILL)
        await _wait_exited(escaped)


def test_exec_feeds_stdin_and_names_a_missing_cwd_under_uvloop(tmp_path: Path) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def both() -> tuple[Any, str]:
        fed = await run("command.exec", {"argv": ["cat"], "stdin": "hello"})
        missing = str(tmp_path / "gone")
        with pytest.raises(OperationFailed) as failed:
            await run("command.exec", {"argv": ["true"], "cwd": missing})
        return fed, str(failed.value)

    fed, error = uvloop.run(both())
    assert fed["stdout"] == "hello"
    assert error == f"working directory not found: {tmp_path / 'gone'}"
