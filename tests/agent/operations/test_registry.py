"""Tests for agent/operations/registry.py: one handler per declaration, results as declared.

Each built-in handler runs for real on this host (as in test_operations.py)
and its result must convert, strictly, to the result type its declaration
names: a key added, renamed or retyped in a handler fails here.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.operations import command, file, node, registry, test
from agent.operations.base import OperationContext
from agent.operations.host import Host
from common.operations import plugins
from common.operations.catalog import BUILTIN, BUILTIN_FAMILIES, add_families, validate_params
from common.operations.declaration import Declaration, Family
from tests.catalogs import restored_tables

CTX = OperationContext(hostname="agent-1.example.com", timeout=30.0, max_output_bytes=1024)
DRY = OperationContext(hostname="h", timeout=5.0, job_id="job-1", dry_run=True)
AGENT_MODULES = {"test": test, "node": node, "command": command, "file": file}


@pytest.mark.parametrize("family", BUILTIN_FAMILIES, ids=lambda f: f.name)
def test_each_family_module_handles_exactly_its_declarations(family: Family) -> None:
    handlers = AGENT_MODULES[family.name].HANDLERS
    assert registry.mismatch((d.name for d in family.declarations), handlers) == ""


def test_the_registry_binds_every_builtin_declaration_and_nothing_else() -> None:
    assert registry.mismatch(BUILTIN, registry.BUILTIN_HANDLERS) == ""
    assert set(AGENT_MODULES) == {f.name for f in BUILTIN_FAMILIES}


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
        # Host paths: under the host root the handlers get (host_root).
        "file.deploy": {"path": "/etc/motd", "content": "hi {{ hostname }}\n", "template": True},
        "file.status": {"path": "/etc/motd"},
        "file.undeploy": {"path": "/etc/motd"},
    }


@pytest.fixture
def host_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host root apart from tmp_path, which a dry run must leave empty."""
    return tmp_path_factory.mktemp("root")


def test_every_builtin_but_test_fail_has_data_to_run_with(tmp_path: Path) -> None:
    assert set(data_for(tmp_path)) == set(BUILTIN) - {"test.fail"}


async def _run(name: str, data: dict[str, Any], ctx: OperationContext, root: Path) -> Any:
    spec: Declaration = BUILTIN[name]
    ctx = dataclasses.replace(ctx, host=Host(root))  # never the machine's own /etc
    result = await registry.BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    return msgspec.convert(result.data, spec.result, strict=True)


@pytest.mark.parametrize("name", sorted(set(BUILTIN) - {"test.fail"}))
async def test_a_handlers_real_result_converts_to_its_declared_type(
    name: str, tmp_path: Path, host_root: Path
) -> None:
    if name == "file.undeploy":  # it removes only what file.deploy wrote
        await _run("file.deploy", data_for(tmp_path)["file.deploy"], CTX, host_root)
    await _run(name, data_for(tmp_path)[name], CTX, host_root)


async def test_node_disk_without_a_path_converts_too(host_root: Path) -> None:
    await _run("node.disk.get", {}, CTX, host_root)


@pytest.mark.parametrize("name", sorted(n for n, s in BUILTIN.items() if not s.read_only))
async def test_a_dry_runs_result_converts_and_touches_nothing(
    name: str, tmp_path: Path, host_root: Path
) -> None:
    data = data_for(tmp_path)[name]
    if name == "command.exec":
        data = {"argv": ["touch", str(tmp_path / "made")], "env": {"SECRET_A": "v"}}
    if name == "command.shell":
        data = {"script": f"touch {tmp_path / 'made'}", "env": {"SECRET_A": "v"}}
    await _run(name, data, DRY, host_root)
    assert os.listdir(tmp_path) == []
    assert os.listdir(host_root) == []


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
