"""Tests for cli/params.py: flags from a params struct, and back to ``operation.data``."""

from __future__ import annotations

import shlex
from typing import Annotated, Any, Literal

import click
import msgspec
import pytest
from click.testing import CliRunner

from cli import params
from cli.operations import RESERVED
from common.operations.catalog import BUILTIN
from common.operations.command import ExecParams
from common.operations.declaration import Params, doc


class Sample(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("Who.")]
    count: int = 3
    ratio: float | None = None
    force: bool = False
    mode: Literal["fast", "slow"] = "fast"
    tags: list[str] = msgspec.field(default_factory=list)
    sizes: list[int] | None = None
    labels: dict[str, str] | None = None
    extra: Any = None


def parse(kind: type[Any], args: list[str]) -> dict[str, Any]:
    """``operation.data`` from ``args``, through a real click command."""
    found: dict[str, Any] = {}

    def callback(**given: Any) -> None:
        found.update(params.data_from(kind, given))

    command = click.Command("x", params=[params.option(f) for f in params.fields(kind)])
    command.callback = callback
    result = CliRunner().invoke(command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return found


def test_each_field_becomes_one_typed_flag_and_unset_ones_stay_out() -> None:
    assert parse(Sample, ["--name", "a"]) == {"name": "a"}
    data = parse(Sample, ["--name", "a", "--count", "5", "--ratio", "0.5", "--force"])
    assert data == {"name": "a", "count": 5, "ratio": 0.5, "force": True}
    assert parse(Sample, ["--name", "a", "--no-force", "--mode", "slow"]) == {
        "name": "a",
        "force": False,
        "mode": "slow",
    }


def test_lists_and_maps_take_repeated_flags_or_json() -> None:
    repeated = ["--name", "a", "--tags", "x", "--tags", "y", "--sizes", "1", "--sizes", "2"]
    assert parse(Sample, repeated) == {"name": "a", "tags": ["x", "y"], "sizes": [1, 2]}
    as_json = ["--name", "a", "--tags", '["x", "y"]', "--labels", '{"k": "v"}']
    assert parse(Sample, as_json) == {"name": "a", "tags": ["x", "y"], "labels": {"k": "v"}}
    pairs = ["--name", "a", "--labels", "k=v", "--labels", "eq=a=b"]
    assert parse(Sample, pairs) == {"name": "a", "labels": {"k": "v", "eq": "a=b"}}


def test_any_takes_json_or_else_the_text() -> None:
    assert parse(Sample, ["--name", "a", "--extra", '{"n": [1]}']) == {
        "name": "a",
        "extra": {"n": [1]},
    }
    assert parse(Sample, ["--name", "a", "--extra", "plain"]) == {"name": "a", "extra": "plain"}


def test_exec_params_from_flags_validate() -> None:
    args = ["--argv", "ls", "--argv", "-l", "--env", "A=1", "--timeout", "5", "--cwd", "/tmp"]
    data = parse(ExecParams, args)
    assert msgspec.convert(data, ExecParams, strict=True) == ExecParams(
        argv=["ls", "-l"], env={"A": "1"}, timeout=5.0, cwd="/tmp"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "Missing option '--name'"),
        (["--name", "a", "--count", "many"], "'many' is not a valid integer"),
        (["--name", "a", "--mode", "medium"], "'medium' is not one of 'fast', 'slow'"),
        (["--name", "a", "--labels", "novalue"], "'novalue' is not KEY=VALUE"),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], error: str) -> None:
    command = click.Command("x", params=[params.option(f) for f in params.fields(Sample)])
    command.callback = lambda **given: params.data_from(Sample, given)
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert error in result.output


def test_type_labels_read_like_the_docs() -> None:
    labels = {f.name: params.type_label(f.kind) for f in params.fields(Sample)}
    assert labels["tags"] == "list of string"
    assert labels["labels"] == "map of string to string"
    assert labels["mode"] == '"fast" or "slow"'
    assert labels["extra"] == "any JSON value"


def test_example_flags_give_back_the_example() -> None:
    for name, spec in BUILTIN.items():
        line = " ".join(params.flags_for(spec.params, dict(spec.example)))
        assert parse(spec.params, shlex.split(line)) == dict(spec.example), name


def test_no_builtin_parameter_takes_a_name_of_corral_run_itself() -> None:
    for spec in BUILTIN.values():
        assert not {f.name for f in params.fields(spec.params)} & RESERVED, spec.name
