"""The ``test.*`` operations: harmless probes for wiring, timeouts and failures.

No host I/O beyond the event loop's clock, except ``test.counter``: the
side-effect probe of the fault tests, which appends the job id as one line
to a file and fsyncs it, so a test can count how often a job really ran.
It is opt-in (only on agents whose allow-list names it); its dry run counts
the lines and writes nothing.
"""

from __future__ import annotations

import asyncio
import os

from agent.operations.base import Handler, OperationContext, OperationFailed, OperationSkipped
from common.operations.declaration import NoParams, OperationResult
from common.operations.test import (
    CounterParams,
    EchoParams,
    FailParams,
    SkipParams,
    SleepParams,
)


async def ping(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data={"pong": True})


async def echo(params: EchoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=params.data)


async def sleep(params: SleepParams, ctx: OperationContext) -> OperationResult:
    await asyncio.sleep(params.seconds)
    return OperationResult(data={"slept": params.seconds})


async def fail(params: FailParams, ctx: OperationContext) -> OperationResult:
    if params.hosts is None or ctx.hostname in params.hosts:
        raise OperationFailed(params.message)
    return OperationResult(data={"pong": True})


async def skip(params: SkipParams, ctx: OperationContext) -> OperationResult:
    if params.hosts is None or ctx.hostname in params.hosts:
        raise OperationSkipped(params.reason)
    return OperationResult(data={"pong": True})


def _append_line(path: str, line: str) -> int:
    with open(path, "a+b") as f:
        f.write(line.encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())
        f.seek(0)
        return sum(1 for _ in f)


def _count_lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


async def counter(params: CounterParams, ctx: OperationContext) -> OperationResult:
    try:
        if ctx.dry_run:
            count = await asyncio.to_thread(_count_lines, params.path) + 1
            return OperationResult(data={"count": count, "would_append": ctx.job_id}, changed=True)
        count = await asyncio.to_thread(_append_line, params.path, ctx.job_id)
    except OSError as exc:
        raise OperationFailed(f"cannot append to {params.path}: {exc.strerror or exc}") from None
    return OperationResult(data={"count": count}, changed=True)


HANDLERS: dict[str, Handler] = {
    "test.ping": ping,
    "test.echo": echo,
    "test.sleep": sleep,
    "test.fail": fail,
    "test.skip": skip,
    "test.counter": counter,
}
