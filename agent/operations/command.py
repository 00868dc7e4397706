"""``command.exec`` and ``command.shell``: run a program on the host. Does I/O (spawns processes).

``argv`` is executed directly, never through a shell, so nothing in it is
expanded; a caller who wants a shell names one (``["sh", "-c", "..."]``).
The child leads its own session and process group, so a timeout or a
cancelled job kills everything it started (``os.killpg``), not just the
first process. When the command exits on its own, background processes it
left behind are not killed: starting a service is a legitimate use. Output
is read until every process holding stdout/stderr has closed them, so a
background process should redirect its output (``> /dev/null 2>&1 &``) or
the command runs until its timeout.

Result data: ``stdout``, ``stderr`` (UTF-8, undecodable bytes replaced, each
at most ``max_output_bytes`` before decoding), ``stdout_truncated``,
``stderr_truncated``, ``exit_code`` (negative: killed by that signal) and
``duration`` (seconds). A non-zero exit code is a completed operation, not a
failed one: the caller decides what it means.

A dry run starts nothing and reports ``changed: false`` with ``would_run``:
the argv, working directory, timeout, and the names (not the values) of the
environment variables it would set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.host import child_environment
from common.operations.command import ExecParams, ShellParams
from common.operations.declaration import OperationResult


class _Collector(asyncio.SubprocessProtocol):
    """Keeps the first ``limit`` bytes of stdout and stderr and drops the rest.

    Data is taken as it arrives, so the child never blocks on a full pipe and
    memory stays bounded however much it writes. A protocol rather than
    ``asyncio.subprocess.Process`` because its transport can be closed: in
    Python 3.11 ``Process.wait()`` does not return while any process, even one
    that escaped the group, still holds a pipe open.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.output = {1: bytearray(), 2: bytearray()}
        self.truncated = {1: False, 2: False}
        self.exited = asyncio.Event()
        self.finished = asyncio.Event()  # exited, and every pipe closed

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        kept = self.output[fd]
        room = self.limit - len(kept)
        if len(data) > room:
            self.truncated[fd] = True
        if room > 0:
            kept += data[:room]

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finished.set()


async def _spawn(params: ExecParams, limit: int) -> tuple[asyncio.SubprocessTransport, _Collector]:
    loop = asyncio.get_running_loop()
    try:
        return await loop.subprocess_exec(
            lambda: _Collector(limit),
            *params.argv,
            stdin=asyncio.subprocess.DEVNULL if params.stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=params.cwd,
            env={**child_environment(os.environ), **(params.env or {})},
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if params.cwd is not None and _missing_directory(exc, params.cwd):
            raise OperationFailed(f"working directory not found: {params.cwd}") from None
        raise OperationFailed(f"executable not found: {params.argv[0]}") from None
    except OSError as exc:
        raise OperationFailed(f"cannot run {params.argv[0]}: {exc.strerror or exc}") from None


def _missing_directory(exc: FileNotFoundError, cwd: str) -> bool:
    # uvloop's spawn error does not name the file, so look at the directory.
    return exc.filename == cwd or not os.path.isdir(cwd)


def _feed(transport: asyncio.SubprocessTransport, stdin: str | None) -> None:
    pipe = transport.get_pipe_transport(0)
    # Duck-typed: uvloop's pipe transports are not asyncio.WriteTransport subclasses.
    if stdin is not None and pipe is not None and hasattr(pipe, "write"):
        # Buffered by the transport and flushed before the pipe closes; a
        # child that exits without reading it all just closes the pipe early.
        pipe.write(stdin.encode())
        pipe.close()


async def _kill_group(transport: asyncio.SubprocessTransport, collector: _Collector) -> None:
    # The child called setsid, so its pid is its process group id. A lookup
    # error means the group is gone; then kill the child alone, in case it
    # somehow never led a group (the suppress covers "already exited" too).
    with contextlib.suppress(ProcessLookupError):
        try:
            os.killpg(transport.get_pid(), signal.SIGKILL)
        except ProcessLookupError:
            transport.kill()
    # Shielded so a second cancellation cannot stop the wait half way; the
    # child watcher reaps the child whether or not we are still waiting.
    await asyncio.shield(collector.exited.wait())


async def _start(params: ExecParams, limit: int) -> tuple[asyncio.SubprocessTransport, _Collector]:
    # Cancelled half way, asyncio would kill only the first process (and, in
    # 3.11, may then wait for its pipes forever): let the spawn finish, then
    # take the whole group down.
    spawning = asyncio.ensure_future(_spawn(params, limit))
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(OperationFailed):
            transport, collector = await spawning
            try:
                await _kill_group(transport, collector)
            finally:
                transport.close()
        raise


def would_run(params: ExecParams, timeout: float) -> dict[str, Any]:
    return {
        "argv": params.argv,
        "cwd": params.cwd,
        "env": sorted(params.env or {}),
        "stdin": params.stdin is not None,
        "timeout": timeout,
    }


async def exec_command(params: ExecParams, ctx: OperationContext) -> OperationResult:
    timeout = ctx.timeout if params.timeout is None else min(params.timeout, ctx.timeout)
    if ctx.dry_run:
        return OperationResult(changed=False, data={"would_run": would_run(params, timeout)})
    started = time.monotonic()
    transport, collector = await _start(params, ctx.max_output_bytes)
    done = False
    try:
        _feed(transport, params.stdin)
        async with asyncio.timeout(timeout) as deadline:
            await collector.finished.wait()
        done = True
    except TimeoutError:
        if not deadline.expired():
            raise
        raise OperationFailed(f"command timed out after {timeout:g}s") from None
    finally:
        try:
            if not done:  # timed out or cancelled: take the whole group down
                await _kill_group(transport, collector)
        finally:
            # Closes pipes still held by a process that escaped the group.
            transport.close()
    return OperationResult(changed=True, data=_result(transport, collector, started))


def _result(
    transport: asyncio.SubprocessTransport, collector: _Collector, started: float
) -> dict[str, Any]:
    return {
        "stdout": collector.output[1].decode("utf-8", errors="replace"),
        "stderr": collector.output[2].decode("utf-8", errors="replace"),
        "exit_code": transport.get_returncode(),
        "duration": time.monotonic() - started,
        "stdout_truncated": collector.truncated[1],
        "stderr_truncated": collector.truncated[2],
    }


async def shell_command(params: ShellParams, ctx: OperationContext) -> OperationResult:
    return await exec_command(params.as_exec(), ctx)


HANDLERS: dict[str, Handler] = {"command.exec": exec_command, "command.shell": shell_command}
