"""Run one operation: allow-list, parameter validation, time limit, error shaping.

No I/O of its own; the handler it calls may do some. Whatever goes wrong
comes out as :class:`OperationFailed` with a one-line message fit for a
``failed`` event, except cancellation, which propagates so the caller's
structured concurrency still works (handlers clean up on the way out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from agent.operations.base import OperationContext, OperationFailed
from agent.operations.registry import HANDLERS
from common.operations.catalog import OPERATIONS, OperationError, OperationResult, validate_params


def allowed_operations(allow: Sequence[str]) -> frozenset[str]:
    """The operations an agent runs: if ``allow`` is empty, every built-in but opt-in ones."""
    if not allow:
        return frozenset(name for name, spec in OPERATIONS.items() if not spec.opt_in)
    unknown = sorted(set(allow) - OPERATIONS.keys())
    if unknown:
        known = ", ".join(sorted(OPERATIONS))
        raise ValueError(f"unknown operations in allow-list: {', '.join(unknown)}; known: {known}")
    return frozenset(allow)


async def run_operation(
    op_type: str, data: dict[str, Any], context: OperationContext, allowed: frozenset[str]
) -> OperationResult:
    # An unknown type is reported as unknown (with the known list), not as refused.
    if op_type in OPERATIONS and op_type not in allowed:
        raise OperationFailed(f"operation {op_type} is not on this agent's allow-list")
    try:
        params = validate_params(op_type, data)
    except OperationError as exc:
        raise OperationFailed(str(exc)) from None
    handler = HANDLERS.get(op_type)
    if handler is None or op_type not in allowed:
        raise OperationFailed(f"operation {op_type} is not on this agent's allow-list")
    try:
        async with asyncio.timeout(context.timeout) as deadline:
            return await handler(params, context)
    except OperationFailed:
        raise
    except TimeoutError as exc:
        if deadline.expired():
            raise OperationFailed(f"operation timed out after {context.timeout:g}s") from None
        raise OperationFailed(_describe(exc)) from exc
    except Exception as exc:
        # The chained exception keeps the traceback for the caller's log;
        # the message carries only the type and text.
        raise OperationFailed(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
