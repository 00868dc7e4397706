"""The ``test.*`` operations: harmless probes for wiring, timeouts and failures.

No host I/O beyond the event loop's clock.
"""

from __future__ import annotations

import asyncio

from agent.operations.base import OperationContext, OperationFailed
from common.operations import EchoParams, FailParams, NoParams, OperationResult, SleepParams


async def ping(params: NoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data={"pong": True})


async def echo(params: EchoParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data=params.data)


async def sleep(params: SleepParams, ctx: OperationContext) -> OperationResult:
    await asyncio.sleep(params.seconds)
    return OperationResult(data={"slept": params.seconds})


async def fail(params: FailParams, ctx: OperationContext) -> OperationResult:
    raise OperationFailed(params.message)
