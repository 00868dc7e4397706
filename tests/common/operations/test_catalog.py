"""Tests for common/operations/catalog.py: the operation table and parameter validation."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from common.operations import catalog
from common.operations.catalog import BUILTIN, validate_params
from common.operations.command import ExecParams
from common.operations.declaration import (
    Declaration,
    Family,
    NoParams,
    OperationError,
    OperationResult,
    Params,
)
from common.operations.node import DiskParams
from common.operations.test import EchoParams, SleepParams
from tests.catalogs import restored_tables

PACKAGE = Path(__file__).resolve().parents[3] / "common" / "operations"


def test_every_spec_is_filed_under_its_own_name() -> None:
    assert all(spec.name == name for name, spec in BUILTIN.items())


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_the_package_imports_only_msgspec_and_the_standard_library(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"msgspec", "common"} <= set(sys.stdlib_module_names)


def test_valid_params_become_the_operation_struct() -> None:
    params = validate_params("command.exec", {"argv": ["ls", "-l"], "cwd": "/tmp", "timeout": 5})
    assert params == ExecParams(argv=["ls", "-l"], cwd="/tmp", timeout=5.0)
    assert validate_params("test.sleep", {"seconds": 2}) == SleepParams(seconds=2.0)
    assert validate_params("node.disk.get", {}) == DiskParams()
    assert validate_params("node.uptime.get", {}) == NoParams()


def test_a_string_is_not_taken_for_a_number() -> None:
    with pytest.raises(OperationError) as info:
        validate_params("test.sleep", {"seconds": "5"})
    assert str(info.value) == "operation.data.seconds: Expected `float`, got `str`"


def test_a_bool_is_not_taken_for_a_number() -> None:
    with pytest.raises(OperationError, match=r"^operation\.data\.seconds: Expected `float`"):
        validate_params("test.sleep", {"seconds": True})


@pytest.mark.parametrize("seconds", [-1, 3600.5, float("nan")])
def test_sleep_seconds_are_bounded(seconds: float) -> None:
    with pytest.raises(OperationError, match=r"^operation\.data\.seconds: "):
        validate_params("test.sleep", {"seconds": seconds})


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(OperationError, match="missing required field `seconds`"):
        validate_params("test.sleep", {})


def test_a_misspelt_field_is_rejected_by_name() -> None:
    with pytest.raises(OperationError, match="unknown field `secnods`"):
        validate_params("test.sleep", {"secnods": 1})


def test_operations_without_params_accept_only_empty_data() -> None:
    with pytest.raises(OperationError, match="unknown field `verbose`"):
        validate_params("node.status.get", {"verbose": True})


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(OperationError) as info:
        validate_params("node.reboot", {})
    message = str(info.value)
    assert "'node.reboot'" in message
    assert all(name in message for name in BUILTIN)


def test_operation_error_is_a_value_error() -> None:
    assert issubclass(OperationError, ValueError)


@pytest.mark.parametrize("data", [None, [1, 2], {"nested": {"a": [1.5, "x"]}}, "text"])
def test_echo_takes_any_data(data: Any) -> None:
    assert validate_params("test.echo", {"data": data}) == EchoParams(data=data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, "operation.data: Object missing required field `argv`"),
        ({"argv": []}, "operation.data.argv: Expected `array` of length >= 1"),
        ({"argv": ["ls", ""]}, "operation.data.argv[1]: Expected `str` of length >= 1"),
        ({"argv": "ls -l"}, "operation.data.argv: Expected `array`, got `str`"),
        ({"argv": ["ls"], "timeout": 0}, "operation.data.timeout: Expected `float` > 0.0"),
        ({"argv": ["ls"], "env": {"A": 1}}, "operation.data.env[...]: Expected `str`, got `int`"),
        ({"argv": ["ls"], "cwd": "tmp"}, "operation.data.cwd: must be an absolute path"),
        ({"argv": ["ls"], "env": {"A=B": "x"}}, "operation.data: env name 'A=B' must be"),
        ({"argv": ["ls", "a\0b"]}, "operation.data: argv[1] contains a NUL character"),
    ],
)
def test_bad_command_params_name_the_field(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(OperationError) as info:
        validate_params("command.exec", data)
    assert str(info.value).startswith(expected)


def test_disk_path_must_be_absolute() -> None:
    with pytest.raises(OperationError, match="path: must be an absolute path"):
        validate_params("node.disk.get", {"path": "var"})


def test_operation_result_defaults_to_unchanged_and_encodes() -> None:
    result = OperationResult(data={"a": 1})
    assert result.changed is False
    assert msgspec.json.decode(msgspec.json.encode(result)) == {"data": {"a": 1}, "changed": False}


# -- the built-in declarations -----------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_each_builtin_is_fully_declared(name: str) -> None:
    spec = BUILTIN[name]
    assert spec.summary
    assert spec.description
    assert spec.platforms
    assert spec.scope == f"{name.partition('.')[0]}:{'read' if spec.read_only else 'write'}"
    assert validate_params(name, dict(spec.example)) is not None
    msgspec.json.schema(spec.params)
    msgspec.json.schema(spec.result)


def test_every_builtin_mutation_supports_dry_run() -> None:
    assert all(spec.dry_runnable for spec in BUILTIN.values())


def test_the_table_is_the_explicit_tuple_of_families() -> None:
    declared = [d.name for family in catalog.BUILTIN_FAMILIES for d in family.declarations]
    assert sorted(declared) == sorted(BUILTIN)
    names = [f.name for f in catalog.BUILTIN_FAMILIES]
    assert len(names) == len(set(names))
    assert names[:3] == ["test", "node", "command"]


def test_two_families_declaring_one_name_are_refused() -> None:
    twice = Family(name="test", summary="s", declarations=catalog.BUILTIN_FAMILIES[0].declarations)
    with pytest.raises(ValueError, match=r"test\.ping is declared twice"):
        catalog.table([catalog.BUILTIN_FAMILIES[0], twice])


def test_family_scopes_are_a_read_and_a_write_per_family() -> None:
    assert catalog.family_scopes(["node", "service"]) == {
        "node:read",
        "node:write",
        "service:read",
        "service:write",
    }


# -- plugin families join at start ---------------------------------------------


class GreetParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str


DEMO = Family(
    name="demo",
    summary="A family made up for the test.",
    declarations=(
        Declaration(
            name="demo.greet",
            params=GreetParams,
            result=str,
            kind="read",
            summary="Greet.",
            description="Greets.",
            example={"name": "x"},
        ),
    ),
)


def test_a_family_added_is_validated_like_a_builtin() -> None:
    with restored_tables():
        assert catalog.add_families([DEMO]) == [DEMO]
        assert catalog.add_families([DEMO]) == []  # again: nothing new
        assert validate_params("demo.greet", {"name": "x"}) == GreetParams(name="x")
        with pytest.raises(
            OperationError, match=r"^operation\.data: Object missing required field"
        ):
            validate_params("demo.greet", {})
    assert "demo.greet" not in catalog.OPERATIONS


def test_a_family_cannot_take_a_builtin_name() -> None:
    impostor = Family(name="node", summary="s", declarations=DEMO.declarations)
    with restored_tables(), pytest.raises(ValueError, match="'node' is already declared"):
        catalog.add_families([impostor])
    assert catalog.OPERATIONS["node.os.get"] is BUILTIN["node.os.get"]


def test_a_bad_family_adds_nothing() -> None:
    bad = Family(name="bad", summary="s", declarations=(DEMO.declarations[0],))
    with restored_tables():
        with pytest.raises(ValueError, match=r"must be bad\.<verb>"):
            catalog.add_families([DEMO, bad])
        assert "demo.greet" not in catalog.OPERATIONS
        assert "demo" not in catalog.FAMILIES


# The families an administrator reaches for (issue 12 of the tracker), plus test.
FAMILIES_NEEDED = {
    *("node", "network", "command", "file", "service", "package", "user", "group"),
    *("ssh_key", "sysctl", "ntp", "timezone", "power", "process", "log", "certificate"),
    *("cron", "docker", "test"),
}


def test_the_catalog_covers_what_an_administrator_needs() -> None:
    assert {f.name for f in catalog.BUILTIN_FAMILIES} >= FAMILIES_NEEDED
    assert len(BUILTIN) >= 85
