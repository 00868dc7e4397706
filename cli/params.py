"""Command-line flags from an operation's params struct, and back to ``operation.data``. Pure.

One flag per field, ``--field-name``, typed from the struct (msgspec's type
information), its help text from the field's description:

- strings, integers, numbers: one value (``--seconds 1.5``); a choice of
  literals: one of them;
- booleans: ``--flag`` / ``--no-flag``;
- lists of scalars: the flag repeated (``--argv ls --argv -l``), or one
  JSON array (``--argv '["ls", "-l"]'``);
- maps: ``KEY=VALUE`` repeated (``--env A=1 --env B=2``), or one JSON object;
- anything else (``Any``, nested structs): one JSON value, or the text
  itself when it is not JSON.

Flags left out are left out of ``data``, so the struct's defaults apply;
the controller validates the rest, as for any submit.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click
import msgspec
import msgspec.inspect as mi

_SCALARS: dict[type[mi.Type], tuple[click.ParamType[Any], str]] = {
    mi.StrType: (click.STRING, "string"),
    mi.IntType: (click.INT, "integer"),
    mi.FloatType: (click.FLOAT, "number"),
    mi.BoolType: (click.BOOL, "boolean"),
}
_COLLECTIONS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)


@dataclass(frozen=True)
class Field:
    """One params field as the CLI and the docs see it."""

    name: str
    kind: mi.Type  # without optional-ness and metadata
    required: bool
    default: Any
    description: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def unwrap(kind: mi.Type) -> tuple[mi.Type, str, bool]:
    """``kind`` without metadata and ``| None``: (type, description, optional)."""
    description, optional = "", False
    while True:
        if isinstance(kind, mi.Metadata):
            description = description or str((kind.extra_json_schema or {}).get("description", ""))
            kind = kind.type
        elif isinstance(kind, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in kind.types):
            rest = [t for t in kind.types if not isinstance(t, mi.NoneType)]
            optional = True
            if len(rest) != 1:
                return mi.UnionType(types=tuple(rest)), description, optional
            kind = rest[0]
        else:
            return kind, description, optional


def fields(params: type[Any]) -> list[Field]:
    info = mi.type_info(params)
    assert isinstance(info, mi.StructType)
    found = []
    for f in info.fields:
        kind, description, _ = unwrap(f.type)
        default = None if f.default is msgspec.NODEFAULT else f.default
        found.append(Field(f.name, kind, f.required, default, description))
    return found


def type_label(kind: mi.Type) -> str:
    """A short name for docs and help: ``list of string``, ``map of string to integer``."""
    kind = unwrap(kind)[0]
    if type(kind) in _SCALARS:
        return _SCALARS[type(kind)][1]
    if isinstance(kind, _COLLECTIONS):
        return f"list of {type_label(kind.item_type)}"
    if isinstance(kind, mi.DictType):
        return f"map of {type_label(kind.key_type)} to {type_label(kind.value_type)}"
    if isinstance(kind, mi.StructType):
        return f"`{kind.cls.__name__}`"
    if isinstance(kind, mi.LiteralType):
        return " or ".join(json.dumps(v) for v in kind.values)
    if isinstance(kind, mi.UnionType):
        return " or ".join(type_label(t) for t in kind.types)
    return "any JSON value"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, Any]:
    if len(values) == 1 and values[0].lstrip().startswith("{"):
        parsed = _json(values[0])
        if isinstance(parsed, dict):
            return parsed
    pairs: dict[str, Any] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=flag)
        pairs[key] = rest
    return pairs


def _items(values: tuple[Any, ...], item: mi.Type) -> list[Any]:
    if len(values) == 1 and isinstance(values[0], str) and values[0].lstrip().startswith("["):
        parsed = _json(values[0])
        if isinstance(parsed, list):
            return parsed
    if type(item) in _SCALARS and not isinstance(item, mi.StrType):
        return [_SCALARS[type(item)][0].convert(v, None, None) for v in values]
    return list(values)


def _help(field: Field, extra: str = "") -> str:
    parts = [field.description.rstrip(".") + "." if field.description else ""]
    parts.append(f"[{type_label(field.kind)}{extra}]")
    if not field.required and field.default not in (None, (), [], {}):
        parts.append(f"(default: {json.dumps(field.default)})")
    return " ".join(p for p in parts if p)


def option(field: Field) -> click.Option:
    """The click option for one field; its value goes back through :func:`value`."""
    kind, dest, must = field.kind, field.name, field.required
    if isinstance(kind, mi.BoolType):
        flags = f"{field.flag}/--no-{field.flag[2:]}"
        return click.Option([flags, dest], default=None, help=_help(field))
    if type(kind) in _SCALARS:
        scalar = _SCALARS[type(kind)][0]
        return click.Option([field.flag, dest], type=scalar, required=must, help=_help(field))
    if isinstance(kind, mi.LiteralType):
        choice = click.Choice([str(v) for v in kind.values])
        return click.Option([field.flag, dest], type=choice, required=must, help=_help(field))
    if isinstance(kind, (*_COLLECTIONS, mi.DictType)):
        form = ", KEY=VALUE" if isinstance(kind, mi.DictType) else ""
        more = f"; repeat the flag{form}"
        return click.Option(
            [field.flag, dest], multiple=True, required=must, help=_help(field, more)
        )
    return click.Option([field.flag, dest], required=must, help=_help(field, ", as JSON"))


def value(field: Field, given: Any) -> Any:
    """The JSON value for ``operation.data`` from what click parsed (None: left out)."""
    kind = field.kind
    if given is None or given == ():
        return None
    if isinstance(kind, _COLLECTIONS):
        return _items(given, kind.item_type)
    if isinstance(kind, mi.DictType):
        return _pairs(given, field.flag)
    if isinstance(kind, mi.LiteralType):
        return next(v for v in kind.values if str(v) == given)
    if type(kind) in _SCALARS:
        return given
    return _json(given)


def data_from(params: type[Any], given: dict[str, Any]) -> dict[str, Any]:
    """``operation.data`` from the parsed flags; fields not given are left out."""
    found = ((f.name, value(f, given.get(f.name))) for f in fields(params))
    return {name: v for name, v in found if v is not None}


def flags_for(params: type[Any], example: dict[str, Any]) -> Iterator[str]:
    """The flags that give ``example`` as data (the docs' and help's example lines)."""
    by_name = {f.name: f for f in fields(params)}
    for name, given in example.items():
        field = by_name[name]
        if isinstance(given, bool):
            yield field.flag if given else f"--no-{field.flag[2:]}"
        elif isinstance(given, list) and all(isinstance(v, str | int | float) for v in given):
            yield from (f"{field.flag} {_text(v)}" for v in given)
        elif isinstance(given, dict) and isinstance(field.kind, mi.DictType):
            yield from (f"{field.flag} {_text(f'{k}={v}')}" for k, v in given.items())
        elif isinstance(given, str | int | float):
            yield f"{field.flag} {_text(given)}"
        else:
            yield f"{field.flag} {_text(json.dumps(given))}"


def _text(given: object) -> str:
    return shlex.quote(str(given))
