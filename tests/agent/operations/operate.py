"""Run one operation's handler as the agent would, on a host root, for the family tests.

The params go through the catalog's validation and the result must convert,
strictly, to the type its declaration names.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agent.operations.base import OperationContext
from agent.operations.host import Host
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, validate_params
from common.operations.declaration import OperationResult


async def operate(
    name: str, data: dict[str, Any], host: Host, *, dry_run: bool = False
) -> OperationResult:
    context = OperationContext(hostname="h", timeout=10, host=host, dry_run=dry_run)
    result = await HANDLERS[name](validate_params(name, data), context)
    msgspec.convert(result.data, OPERATIONS[name].result, strict=True)
    return result
