"""Run one operation: allow-list, parameter validation, time limit, error shaping.

No I/O of its own, except at the agent's start: an allow-list that names a
third-party family (``example.*``, ``example.greet``) loads and binds it
(common/operations/plugins.py, agent/operations/registry.py). The handler
it calls may do some. Whatever goes wrong comes out as
:class:`OperationFailed` with a one-line message fit for a ``failed`` event
(a host that lacks what the operation needs: :class:`OperationSkipped`),
except cancellation, which propagates so the caller's structured
concurrency still works (handlers clean up on the way out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from agent.operations import registry
from agent.operations.base import OperationContext, OperationFailed, OperationSkipped
from common.operations import plugins
from common.operations.catalog import (
    BUILTIN,
    BUILTIN_FAMILIES,
    FAMILIES,
    OPERATIONS,
    add_families,
    spec_for,
)
from common.operations.catalog import validate_params as validate
from common.operations.declaration import OperationError, OperationResult


def allowed_operations(allow: Sequence[str]) -> frozenset[str]:
    """The operations an agent runs.

    Empty ``allow``: every built-in operation but the opt-in ones. Otherwise
    each entry is an operation's name or a family glob, ``family.*``, which
    takes that family's operations but the opt-in ones (those are named one
    by one). A family that is not built in is loaded from its plugin.
    """
    if not allow:
        return frozenset(name for name, spec in BUILTIN.items() if not spec.opt_in)
    for family in sorted({entry.partition(".")[0] for entry in allow}):
        _load_family(family)
    unknown = sorted(e for e in allow if not _known(e))
    if unknown:
        known = ", ".join(sorted(FAMILIES))
        raise ValueError(
            f"unknown operations in allow-list: {', '.join(unknown)}; known families: {known}"
            " (`corral operation list` names every operation)"
        )
    return frozenset(name for entry in allow for name in _expand(entry))


def _load_family(name: str) -> None:
    """Load and bind a plugin family the allow-list names; nothing if built in or absent."""
    if any(family.name == name for family in BUILTIN_FAMILIES):
        return
    family = FAMILIES.get(name)
    if family is None:
        if name not in plugins.installed():
            return  # reported with the other unknown names
        family = plugins.load(name)
        add_families([family])
    registry.bind(family)


def _known(entry: str) -> bool:
    family, _, rest = entry.partition(".")
    return family in FAMILIES if rest == "*" else entry in OPERATIONS


def _expand(entry: str) -> list[str]:
    family, _, rest = entry.partition(".")
    if rest != "*":
        return [entry]
    return [d.name for d in FAMILIES[family].declarations if not d.opt_in]


async def run_operation(
    op_type: str, data: dict[str, Any], context: OperationContext, allowed: frozenset[str]
) -> OperationResult:
    # An unknown type is reported as unknown (with the known list), not as refused.
    if op_type in OPERATIONS and op_type not in allowed:
        raise OperationFailed(f"operation {op_type} is not on this agent's allow-list")
    try:
        params = validate(op_type, data)
    except OperationError as exc:
        raise OperationFailed(str(exc)) from None
    handler = registry.HANDLERS.get(op_type)
    if handler is None or op_type not in allowed:
        raise OperationFailed(f"operation {op_type} is not on this agent's allow-list")
    if context.dry_run and not spec_for(op_type).dry_runnable:
        raise OperationFailed(f"operation {op_type} does not support dry run; nothing was done")
    try:
        async with asyncio.timeout(context.timeout) as deadline:
            return await handler(params, context)
    except (OperationFailed, OperationSkipped):
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
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
