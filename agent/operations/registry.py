"""The table from operation type to handler. I/O only when binding a plugin (an import).

Each ``agent/operations/<family>.py`` exports its ``HANDLERS``; the built-in
ones are merged here from the modules named after the families the catalog
declares (common/operations/catalog.py), so a family is listed in one place,
and a test checks handlers and declarations match one to one. A
third-party family's handlers are bound at the agent's start, only when its
allow-list names the family (agent/executor.py), from the
``module:attribute`` its :class:`~common.operations.declaration.Family` names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from agent.operations.base import Handler
from common.operations.catalog import BUILTIN_FAMILIES
from common.operations.declaration import Family


def _builtin_handlers() -> dict[str, Handler]:
    """Every built-in family's ``HANDLERS``, from the module named after it."""
    merged: dict[str, Handler] = {}
    for family in BUILTIN_FAMILIES:
        merged.update(importlib.import_module(f"agent.operations.{family.name}").HANDLERS)
    return merged


BUILTIN_HANDLERS: Mapping[str, Handler] = MappingProxyType(_builtin_handlers())
# The process's table: the built-ins, and plugin handlers once bound at start.
HANDLERS: dict[str, Handler] = dict(BUILTIN_HANDLERS)


def mismatch(declared: Iterable[str], handled: Iterable[str]) -> str:
    """What is wrong between declarations and handlers, or "" when they match one to one."""
    declared, handled = set(declared), set(handled)
    problems = []
    if missing := sorted(declared - handled):
        problems.append(f"declared without a handler: {', '.join(missing)}")
    if extra := sorted(handled - declared):
        problems.append(f"handled without a declaration: {', '.join(extra)}")
    return "; ".join(problems)


def family_handlers(family: Family) -> Mapping[str, Handler]:
    """A plugin family's handler table, imported from ``family.handlers`` and checked."""
    module_name, _, attribute = family.handlers.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"operation family {family.name!r} names no handlers (module:attribute)")
    table = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(table, Mapping):
        raise ValueError(f"{family.handlers} is not a mapping of operation names to handlers")
    problem = mismatch((d.name for d in family.declarations), table)
    if problem:
        raise ValueError(f"operation family {family.name!r}: {problem}")
    return table


def bind(family: Family) -> None:
    """Add a plugin family's handlers to the table (again: a no-op)."""
    if all(d.name in HANDLERS for d in family.declarations):
        return
    HANDLERS.update(family_handlers(family))
