"""The operation table: every declared operation by name, and parameter validation. Pure.

Built from an explicit tuple of families, nothing registers itself at
import. Both sides use the table: the controller to validate, authorize,
list and document, the agent to check a job again before running it (an
agent never trusts that the controller it talks to is as new as itself).

Third-party families (docs/plugins.md) join the process's table at start,
explicitly, through :func:`add_families`: the controller adds every one
installed, an agent those its allow-list names. The table only grows, and
only with families whose names are free, so a plugin cannot replace a
built-in operation.

Validation is strict, so ``"5"`` is not accepted where a number is expected;
an integer is accepted where a float is expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from common.operations import (
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
from common.operations.declaration import (
    KINDS,
    Declaration,
    Family,
    OperationError,
    Params,
    check_family,
    family_scope,
)

BUILTIN_FAMILIES: tuple[Family, ...] = (
    test.FAMILY,
    node.FAMILY,
    command.FAMILY,
    network.FAMILY,
    file.FAMILY,
    service.FAMILY,
    power.FAMILY,
    process.FAMILY,
    package.FAMILY,
    certificate.FAMILY,
    log.FAMILY,
    user.FAMILY,
    group.FAMILY,
    ssh_key.FAMILY,
    sysctl.FAMILY,
    ntp.FAMILY,
    timezone.FAMILY,
    cron.FAMILY,
    docker.FAMILY,
)


def table(families: Iterable[Family]) -> dict[str, Declaration]:
    """Declarations by name; ValueError on a bad family or a name declared twice."""
    found: dict[str, Declaration] = {}
    for family in families:
        check_family(family)
        for declaration in family.declarations:
            if declaration.name in found:
                raise ValueError(f"operation {declaration.name} is declared twice")
            found[declaration.name] = declaration
    return found


# The process's table: the built-ins, and plugin families once added at start.
OPERATIONS: dict[str, Declaration] = table(BUILTIN_FAMILIES)
FAMILIES: dict[str, Family] = {family.name: family for family in BUILTIN_FAMILIES}
BUILTIN: Mapping[str, Declaration] = MappingProxyType(dict(OPERATIONS))


def add_families(families: Iterable[Family]) -> list[Family]:
    """Add third-party families to the table; the ones that were new.

    Adding a family already there (the same object) is a no-op; another
    family under a taken name is a ValueError, and then nothing is added.
    """
    new = [f for f in families if FAMILIES.get(f.name) is not f]
    for family in new:
        if family.name in FAMILIES:
            raise ValueError(f"operation family {family.name!r} is already declared")
    added = table(new)  # checks each, and names twice across them
    FAMILIES.update((family.name, family) for family in new)
    OPERATIONS.update(added)
    return new


def family_scopes(families: Iterable[str]) -> frozenset[str]:
    """A read and a write scope per family."""
    return frozenset(family_scope(name, kind) for name in families for kind in KINDS)


def spec_for(op_type: str) -> Declaration:
    """The declaration of ``op_type``, or :class:`OperationError` listing the known types."""
    try:
        return OPERATIONS[op_type]
    except KeyError:
        known = ", ".join(sorted(OPERATIONS))
        raise OperationError(f"unknown operation type {op_type!r}; known: {known}") from None


# msgspec ends its messages with " - at `$.path`" (or "`key` in `$.path`" for
# a bad mapping key); users know the field as operation.data.<path>.
_AT = re.compile(r"^(?P<msg>.*) - at `(?P<key>key` in `)?\$(?P<path>[^`]*)`\Z", re.DOTALL)


# A struct's own check (__post_init__) comes without a path; by the house
# rule its message starts with the field it is about ("key must be ...",
# "schedule: minute 99 ..."), which is then named as the path.
_FIELD_FIRST = re.compile(
    r"(?P<field>[a-z_][a-z0-9_]*)(?P<index>\[\d+\])?(?::\s*(?P<rest>.+)|\s+(?P<must>must\b.+))",
    re.DOTALL,
)


def _rewrite(message: str, fields: tuple[str, ...] = ()) -> str:
    match = _AT.match(message)
    if match is None:
        first = _FIELD_FIRST.fullmatch(message)
        if first is not None and first["field"] in fields:
            said = first["rest"] or first["must"]
            return f"operation.data.{first['field']}{first['index'] or ''}: {said}"
        return f"operation.data: {message}"
    where = f"operation.data{match['path']}"
    if match["key"]:
        where += " (key)"
    return f"{where}: {match['msg']}"


def validate_params(op_type: str, data: dict[str, Any]) -> Params:
    """Convert ``data`` into ``op_type``'s params struct or raise :class:`OperationError`."""
    spec = spec_for(op_type)
    try:
        return msgspec.convert(data, spec.params, strict=True)
    except msgspec.ValidationError as exc:
        raise OperationError(_rewrite(str(exc), spec.params.__struct_fields__)) from None
