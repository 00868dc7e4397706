"""The ``example`` family's handlers: what an agent runs. The host is not touched."""

from __future__ import annotations

from agent.operations.base import Handler, OperationContext
from common.operations.declaration import OperationResult
from corral_example.declarations import GreetingParams


async def greeting(params: GreetingParams, ctx: OperationContext) -> OperationResult:
    return OperationResult(data={"greeting": f"hello, {params.name}", "hostname": ctx.hostname})


HANDLERS: dict[str, Handler] = {"example.greeting.get": greeting}
