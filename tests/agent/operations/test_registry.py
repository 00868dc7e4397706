"""Tests for agent/operations/registry.py: one handler per declaration, results as declared.

The handlers that only read this machine or touch a temporary path run here
for real (as in test_operations.py), and each result must convert, strictly,
to the result type its declaration names: a key added, renamed or retyped
in a handler fails here. Every other handler reads or changes the host's
configuration, so its own tests (tests/agent/operations/test_<family>.py)
run it on a temporary root with stand-ins and convert its results there.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations import registry
from agent.operations.base import OperationContext
from common.operations import plugins
from common.operations.catalog import BUILTIN, BUILTIN_FAMILIES, add_families, validate_params
from common.operations.declaration import Declaration, Family
from tests.catalogs import restored_tables

CTX = OperationContext(hostname="agent-1.example.com", timeout=30.0, max_output_bytes=1024)
DRY = OperationContext(hostname="h", timeout=5.0, job_id="job-1", dry_run=True)
RUN_HERE = frozenset({"test", "node", "command"})
# node.hostname.update would rename this machine: test_node.py runs it on a temporary root.
HERE = frozenset(
    name
    for name, spec in BUILTIN.items()
    if spec.family in RUN_HERE and name != "node.hostname.update"
)


def agent_module(family: Family) -> Any:
    """agent/operations/<family>.py, where a built-in family's handlers live."""
    return importlib.import_module(f"agent.operations.{family.name}")


@pytest.mark.parametrize("family", BUILTIN_FAMILIES, ids=lambda f: f.name)
def test_each_family_module_handles_exactly_its_declarations(family: Family) -> None:
    handlers = agent_module(family).HANDLERS
    assert registry.mismatch((d.name for d in family.declarations), handlers) == ""


def test_the_registry_binds_every_builtin_declaration_and_nothing_else() -> None:
    assert registry.mismatch(BUILTIN, registry.BUILTIN_HANDLERS) == ""


def test_a_mismatch_names_both_sides() -> None:
    assert registry.mismatch(["a.get", "b.get"], ["b.get", "c.get"]) == (
        "declared without a handler: a.get; handled without a declaration: c.get"
    )


def data_for(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Parameters to run each built-in with here (test.fail has no result to check)."""
    return {
        "test.ping": {},
        "test.echo": {"data": {"a": [1, "b"]}},
        "test.sleep": {"seconds": 0},
        "test.skip": {"hosts": ["another-agent.example.com"]},
        "test.counter": {"path": str(tmp_path / "counter")},
        "node.hostname.get": {},
        "node.status.get": {},
        "node.uptime.get": {},
        "node.load.get": {},
        "node.memory.get": {},
        "node.disk.get": {"path": str(tmp_path)},
        "node.os.get": {},
        "command.exec": {"argv": ["echo", "hi"], "env": {"A": "1"}},
        "command.shell": {"script": "echo hi", "env": {"A": "1"}},
    }


def test_every_builtin_but_test_fail_has_data_to_run_with(tmp_path: Path) -> None:
    assert set(data_for(tmp_path)) == HERE - {"test.fail"}


async def _run(name: str, data: dict[str, Any], ctx: OperationContext) -> Any:
    spec: Declaration = BUILTIN[name]
    result = await registry.BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    return msgspec.convert(result.data, spec.result, strict=True)


@pytest.mark.parametrize("name", sorted(HERE - {"test.fail"}))
async def test_a_handlers_real_result_converts_to_its_declared_type(
    name: str, tmp_path: Path
) -> None:
    await _run(name, data_for(tmp_path)[name], CTX)


async def test_node_disk_without_a_path_converts_too() -> None:
    await _run("node.disk.get", {}, CTX)


@pytest.mark.parametrize("name", sorted(n for n in HERE if not BUILTIN[n].read_only))
async def test_a_dry_runs_result_converts_and_touches_nothing(name: str, tmp_path: Path) -> None:
    data = data_for(tmp_path)[name]
    if name == "command.exec":
        data = {"argv": ["touch", str(tmp_path / "made")], "env": {"SECRET_A": "v"}}
    if name == "command.shell":
        data = {"script": f"touch {tmp_path / 'made'}", "env": {"SECRET_A": "v"}}
    await _run(name, data, DRY)
    assert os.listdir(tmp_path) == []


async def test_a_dry_run_command_says_what_it_would_run_without_secret_values() -> None:
    data = {"argv": ["env"], "env": {"TOKEN": "s3cret"}, "stdin": "s3cret", "timeout": 60}
    result = await registry.BUILTIN_HANDLERS["command.exec"](
        validate_params("command.exec", data), DRY
    )
    assert result.changed is False
    assert result.data == {
        "would_run": {"argv": ["env"], "cwd": None, "env": ["TOKEN"], "stdin": True, "timeout": 5.0}
    }
    assert b"s3cret" not in msgspec.json.encode(result)


async def test_a_dry_run_counter_counts_what_it_would_append(tmp_path: Path) -> None:
    path = tmp_path / "counter"
    path.write_text("one\ntwo\n")
    result = await registry.BUILTIN_HANDLERS["test.counter"](
        validate_params("test.counter", {"path": str(path)}), DRY
    )
    assert (result.changed, result.data) == (True, {"count": 3, "would_append": "job-1"})
    assert path.read_text() == "one\ntwo\n"


def test_a_plugin_family_binds_from_the_module_it_names() -> None:
    family = plugins.load("example")
    with restored_tables():
        add_families([family])
        registry.bind(family)
        assert "example.greeting.get" in registry.HANDLERS
        registry.bind(family)  # again: a no-op
    assert "example.greeting.get" not in registry.HANDLERS


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        ("", "names no handlers"),
        ("agent.operations.node:PSEUDO_FILESYSTEMS", "is not a mapping"),
        ("agent.operations.node:HANDLERS", "declared without a handler: example.greeting.get"),
    ],
)
def test_a_plugin_with_bad_handlers_is_refused(handlers: str, message: str) -> None:
    family = plugins.load("example")
    odd = Family(name="example", summary="s", declarations=family.declarations, handlers=handlers)
    with pytest.raises(ValueError, match=message):
        registry.family_handlers(odd)
