"""What an operation is declared with, and what a handler returns. Pure: no I/O.

A :class:`Declaration` says everything about one operation but how it
touches the host: its name, typed parameter and result types, whether it
reads or mutates, the API scope it needs (derived from its family and
kind), its documentation, an example and its platforms. A :class:`Family`
groups the declarations of one family (``node``, ``command``, ...). The
controller validates, authorizes, lists and documents from these; the agent
binds a handler to each (agent/operations/registry.py).

Parameter structs forbid unknown fields, unlike wire messages: a misspelt
``secnods`` in user data must be an error, not a silently ignored key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

Kind = Literal["read", "mutate"]
KINDS: tuple[Kind, ...] = ("read", "mutate")

Seconds = Annotated[float, msgspec.Meta(gt=0)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# Marks a parameter whose value is secret: redacted in job records, API
# output and logs (common/redaction.py); the agent still gets the real value.
SECRET = msgspec.Meta(extra={"secret": True})

# family.verb or family.object.verb: lower case, digits and underscores.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def doc(text: str) -> msgspec.Meta:
    """A field's description: the CLI's ``--help``, the JSON Schema and docs/catalog.md show it."""
    return msgspec.Meta(description=text)


def check_absolute(name: str, path: str | None) -> None:
    """For a params struct's ``__post_init__``: ``path`` must be absolute (or unset)."""
    if path is not None and not path.startswith("/"):
        raise ValueError(f"{name} must be an absolute path, got {path!r}")


class Params(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every parameter struct."""


class NoParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """For operations that take no parameters: ``data`` must be ``{}``."""


class OperationError(ValueError):
    """An unknown operation type or bad parameters; the message names the culprit."""


class OperationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a handler returns: JSON-able ``data`` and whether it changed the host.

    ``data`` converts to the declaration's ``result`` type
    (tests/agent/operations/test_registry.py holds every handler to it).
    """

    data: Any = None
    changed: bool = False


@dataclass(frozen=True, eq=False)
class Declaration:
    """One operation, declared once.

    ``result`` is any type msgspec can convert to and describe, usually a
    Struct. ``dry_run``: a mutating operation's handler honours
    ``OperationContext.dry_run`` (computes what it would do, touches
    nothing); a dry run of one that does not is refused. Reading is always
    safe to dry-run. ``opt_in``: off unless an agent's allow-list names it.
    """

    name: str
    params: type[Params]
    result: Any
    kind: Kind
    summary: str
    description: str
    example: Mapping[str, Any] = field(default_factory=dict)
    platforms: tuple[str, ...] = ("linux",)
    dry_run: bool = False
    opt_in: bool = False

    @property
    def family(self) -> str:
        return self.name.partition(".")[0]

    @property
    def scope(self) -> str:
        """``<family>:read`` for a read, ``<family>:write`` for a mutation."""
        return family_scope(self.family, self.kind)

    @property
    def read_only(self) -> bool:
        return self.kind == "read"

    @property
    def dry_runnable(self) -> bool:
        return self.read_only or self.dry_run


def family_scope(family: str, kind: Kind) -> str:
    return f"{family}:{'read' if kind == 'read' else 'write'}"


@dataclass(frozen=True, eq=False)
class Family:
    """The declarations of one family.

    ``handlers`` names, for a third-party family (docs/plugins.md), the
    agent-side table of its handlers as ``module:attribute``; the built-in
    families are bound in agent/operations/registry.py instead.
    """

    name: str
    summary: str
    declarations: tuple[Declaration, ...]
    handlers: str = ""


def check_family(family: Family) -> None:
    """Raise ValueError naming what is wrong with a family's declarations."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", family.name):
        raise ValueError(f"family name {family.name!r}: lower case letters, digits, underscores")
    seen: set[str] = set()
    for declaration in family.declarations:
        _check_declaration(family.name, declaration)
        if declaration.name in seen:
            raise ValueError(f"operation {declaration.name} is declared twice")
        seen.add(declaration.name)


def _check_declaration(family: str, declaration: Declaration) -> None:
    name = declaration.name
    if not NAME_RE.fullmatch(name) or declaration.family != family:
        raise ValueError(
            f"operation name {name!r} must be {family}.<verb> or {family}.<noun>.<verb>"
        )
    if declaration.kind not in KINDS:
        raise ValueError(f"{name}: kind must be one of {', '.join(KINDS)}")
    if not declaration.summary or "\n" in declaration.summary:
        raise ValueError(f"{name}: the summary must be one line")
    if not (isinstance(declaration.params, type) and issubclass(declaration.params, Params)):
        raise ValueError(f"{name}: params must be a subclass of Params")
    try:
        msgspec.convert(dict(declaration.example), declaration.params, strict=True)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{name}: its example does not validate: {exc}") from None
