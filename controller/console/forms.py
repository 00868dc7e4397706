"""The submit form, derived from an operation's params JSON Schema, and read back. Pure.

Each property of the schema (``$ref`` into ``$defs`` followed, an optional
``anyOf [X, null]`` unwrapped) becomes one field of a kind the browser can
edit: text, a choice, an integer, a number, a checkbox, lines (an array of
scalars, one per line) or JSON (anything else). Reading the form turns each
field back into its JSON value; the submit then goes through the API's own
validation (controller/api/bodies.py), which has the last word.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidRequest

PARAM = "param."  # form field name prefix of an operation parameter
_SCALARS = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, choice, integer, number, boolean, lines, json
    description: str
    required: bool
    default: Any  # None when the schema gives none
    choices: tuple[str, ...] = ()
    item_kind: str = "text"  # of ``lines``
    minimum: float | None = None
    maximum: float | None = None

    @property
    def input_name(self) -> str:
        return PARAM + self.name

    @property
    def shown_default(self) -> str:
        if self.default is None:
            return ""
        if self.kind == "lines" and isinstance(self.default, list):
            return "\n".join(str(v) for v in self.default)
        if self.kind == "json":
            return json.dumps(self.default)
        return str(self.default)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return schema
    found = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
    return found if isinstance(found, dict) else {}


def _unwrap_optional(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1 and isinstance(rest[0], dict):
            return {**schema, **rest[0]}
    return schema


def _field(name: str, schema: dict[str, Any], required: bool) -> Field:
    kind, item_kind, choices = "json", "text", ()
    declared = schema.get("type")
    enum = schema.get("enum")
    if isinstance(enum, list) and all(isinstance(v, str) for v in enum):
        kind, choices = "choice", tuple(enum)
    elif isinstance(declared, str) and declared in _SCALARS:
        kind = _SCALARS[declared]
    elif declared == "array":
        items = schema.get("items", {})
        item_type = items.get("type") if isinstance(items, dict) else None
        if isinstance(item_type, str) and item_type in ("string", "integer", "number"):
            kind, item_kind = "lines", _SCALARS[item_type]
    return Field(
        name=name,
        kind=kind,
        description=str(schema.get("description", "")),
        required=required,
        default=schema.get("default"),
        choices=choices,
        item_kind=item_kind,
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
    )


def fields_of(params_schema: dict[str, Any]) -> list[Field]:
    root = _resolve(params_schema, params_schema)
    required = set(root.get("required", []))
    properties: dict[str, Any] = root.get("properties", {})
    return [
        _field(name, _unwrap_optional(_resolve(prop, params_schema)), name in required)
        for name, prop in properties.items()
        if isinstance(prop, dict)
    ]


def _scalar(field: str, kind: str, raw: str) -> Any:
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidRequest(f"{field}: {raw[:40]!r} is not an integer") from None
    if kind == "number":
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidRequest(f"{field}: {raw[:40]!r} is not a number")
        return value
    return raw


def _value(field: Field, raw: str) -> Any:
    if field.kind == "lines":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return [_scalar(field.name, field.item_kind, line) for line in lines]
    if field.kind == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise InvalidRequest(f"{field.name}: not JSON ({exc})") from None
    return _scalar(field.name, field.kind, raw)


def params_from(fields: list[Field], form: dict[str, str]) -> dict[str, Any]:
    """The operation's ``data`` from the form: an empty field is left out (its default applies)."""
    data: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.input_name, "")
        if field.kind == "boolean":
            data[field.name] = raw != ""
        elif raw.strip():
            data[field.name] = _value(field, raw.strip() if field.kind != "text" else raw)
    return data


TARGET_KINDS = ("_any", "_all", "host", "label")


def target_from(form: dict[str, str]) -> str:
    """The target string from the picker: _any, _all, a hostname or a key:value label."""
    kind = form.get("target_kind", "_any")
    if kind in ("_any", "_all"):
        return kind
    if kind == "host":
        host = form.get("target_host", "").strip()
        if not host:
            raise InvalidRequest("target: choose an agent")
        return host
    if kind == "label":
        label = form.get("target_label", "").strip()
        if ":" not in label:
            raise InvalidRequest("target: a label is written key:value, e.g. group:web")
        return label
    raise InvalidRequest(f"target: must be one of {', '.join(TARGET_KINDS)}")


def timeout_from(form: dict[str, str]) -> float | None:
    raw = form.get("timeout", "").strip()
    return None if raw == "" else float(_scalar("timeout", "number", raw))
