"""The table from operation type to handler. I/O only when binding a plugin (an import).

Each ``agent/operations/<family>.py`` exports its ``HANDLERS``; the built-in
ones are merged here, literally, so the full set is readable in one place
and a test checks it matches the declarations (common/operations/catalog.py)
one to one. A third-party family's handlers are bound at the agent's start,
only when its allow-list names the family (agent/executor.py), from the
``module:attribute`` its :class:`~common.operations.declaration.Family` names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from agent.operations import (
    certificate,
    command,
    cron,
    docker,
    file,
    group,
    log,
    network,
    node,
    ntp,
    package,
    power,
    process,
    service,
    ssh_key,
    sysctl,
    test,
    timezone,
    user,
)
from agent.operations.base import Handler
from common.operations.declaration import Family

BUILTIN_HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        **test.HANDLERS,
        **node.HANDLERS,
        **command.HANDLERS,
        **network.HANDLERS,
        **file.HANDLERS,
        **service.HANDLERS,
        **power.HANDLERS,
        **process.HANDLERS,
        **package.HANDLERS,
        **certificate.HANDLERS,
        **log.HANDLERS,
        **user.HANDLERS,
        **group.HANDLERS,
        **ssh_key.HANDLERS,
        **sysctl.HANDLERS,
        **ntp.HANDLERS,
        **timezone.HANDLERS,
        **cron.HANDLERS,
        **docker.HANDLERS,
    }
)
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
