"""``-o json|yaml|table``: the output option every read command shares. I/O: stdout.

Declared once (:data:`OUTPUT`) and reused, as a decorator on the commands
written by hand and as :class:`click.Option` objects on those built from
parts (``corral run``). ``--json``, the flag these commands had before,
stays as a hidden alias of ``-o json`` so scripts keep working.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, Literal, cast

import click
import msgspec
import yaml

Format = Literal["table", "json", "yaml"]
FORMATS: tuple[Format, ...] = ("table", "json", "yaml")
Table = Callable[[dict[str, Any]], None]

_OUTPUT: tuple[tuple[str, ...], dict[str, Any]] = (
    ("-o", "--output"),
    {
        "type": click.Choice(FORMATS),
        "default": "table",
        "show_default": True,
        "help": "table for people; json or yaml for scripts.",
    },
)
_JSON: tuple[tuple[str, ...], dict[str, Any]] = (
    ("--json", "as_json"),
    {"is_flag": True, "hidden": True, "help": "Same as -o json."},
)


def output_params() -> list[click.Option]:
    """``-o/--output`` and the hidden ``--json``, for commands built from parts."""
    return [click.Option(list(decls), **attrs) for decls, attrs in (_OUTPUT, _JSON)]


def chosen(output: str, as_json: bool) -> Format:
    """The format asked for: ``--json`` wins, as it did before ``-o`` existed."""
    return "json" if as_json else cast(Format, output)  # click.Choice(FORMATS) checked it


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The decorated command gets ``output: Format`` (``--json`` folded into it)."""

    @functools.wraps(func)
    def with_output(*args: Any, output: str, as_json: bool, **kwargs: Any) -> Any:
        return func(*args, output=chosen(output, as_json), **kwargs)

    for decls, attrs in (_JSON, _OUTPUT):
        with_output = click.option(*decls, **attrs)(with_output)
    return with_output


def formatted(value: Any, output: Format) -> str:
    """``value`` (a struct, or plain data) as JSON or YAML text."""
    data = msgspec.to_builtins(value)
    if output == "yaml":
        return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def emit(value: Any, output: Format, table: Table) -> None:
    """Print an API answer: with ``table`` (given the plain data), or as JSON or YAML."""
    if output == "table":
        table(msgspec.to_builtins(value))
    else:
        click.echo(formatted(value, output), nl=False)
