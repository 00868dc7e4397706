"""docs/catalog.md, the reference of every built-in operation, rendered from the declarations. Pure.

``corral operation docs > docs/catalog.md`` writes it;
tests/cli/test_catalog_docs.py fails when the file is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec.inspect as mi

from cli import params
from common.operations.declaration import Declaration, Family

HEADER = """# Operation catalog

Every built-in operation: what it does, its parameters and result, the API
scope it needs and an example. Generated from the declarations
(`common/operations/`) by `corral operation docs > docs/catalog.md`; do
not edit by hand (a test fails when this file is stale). How to run them,
scopes and dry runs: [api.md](api.md) and [security.md](security.md);
adding one: the README; third-party families: [plugins.md](plugins.md).
"""


def example_line(declaration: Declaration) -> str:
    flags = " ".join(params.flags_for(declaration.params, dict(declaration.example)))
    return " ".join(p for p in ("corral run", declaration.name, flags, "--target _any --wait") if p)


def render_catalog(families: Iterable[Family]) -> str:
    families = list(families)
    lines = [HEADER, "| family | operations | summary |", "|---|---|---|"]
    for family in families:
        names = ", ".join(f"`{d.name}`" for d in family.declarations)
        lines.append(f"| [{family.name}](#{family.name}) | {names} | {family.summary} |")
    for family in families:
        lines += ["", f"## {family.name}", "", family.summary]
        for declaration in family.declarations:
            lines += ["", *_operation(declaration)]
    return "\n".join(lines) + "\n"


def _operation(d: Declaration) -> Iterator[str]:
    yield f"### {d.name}"
    yield ""
    yield f"{d.summary} {d.description}"
    yield ""
    yield "| kind | scope | platforms | dry run | opt-in |"
    yield "|---|---|---|---|---|"
    dry, opt_in = ("yes" if d.dry_runnable else "no"), ("yes" if d.opt_in else "no")
    yield f"| {d.kind} | `{d.scope}` | {', '.join(d.platforms)} | {dry} | {opt_in} |"
    yield ""
    yield from _params(d)
    yield ""
    yield from _result(d.result)
    yield ""
    yield "```sh"
    yield example_line(d)
    yield "```"


def _params(d: Declaration) -> Iterator[str]:
    fields = params.fields(d.params)
    if not fields:
        yield "Parameters: none (`data` is `{}`)."
        return
    yield "| parameter | type | required | default | description |"
    yield "|---|---|---|---|---|"
    for f in fields:
        default = "" if f.required or f.default is None else f"`{json.dumps(f.default)}`"
        required = "yes" if f.required else "no"
        label = params.type_label(f.kind)
        yield f"| `{f.name}` | {label} | {required} | {default} | {f.description} |"


def _result(result: Any) -> Iterator[str]:
    kind = mi.type_info(result)
    if isinstance(kind, mi.NoneType):
        yield "Result: none (the operation ends `failed`)."
        return
    structs = _structs(kind)
    if not structs:
        yield f"Result: {params.type_label(kind)}."
        return
    yield f"Result: `{structs[0].cls.__name__}`."
    for struct in structs:
        yield ""
        yield f"| `{struct.cls.__name__}` field | type | description |"
        yield "|---|---|---|"
        for f in struct.fields:
            description = params.unwrap(f.type)[1]
            yield f"| `{f.name}` | {params.type_label(f.type)} | {description} |"


def _structs(kind: mi.Type, found: list[mi.StructType] | None = None) -> list[mi.StructType]:
    """Every struct in ``kind``, outermost first, each once."""
    found = [] if found is None else found
    kind = params.unwrap(kind)[0]
    if isinstance(kind, mi.StructType):
        if all(s.cls is not kind.cls for s in found):
            found.append(kind)
            for f in kind.fields:
                _structs(f.type, found)
    elif isinstance(kind, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        _structs(kind.item_type, found)
    elif isinstance(kind, mi.DictType):
        _structs(kind.value_type, found)
    elif isinstance(kind, mi.UnionType):
        for t in kind.types:
            _structs(t, found)
    return found
