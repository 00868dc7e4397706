"""Tests for agent/operations/registry.py: one handler per declaration, results as declared.

Each built-in handler runs for real (as in test_operations.py) and its
result must convert, strictly, to the result type its declaration names: a
key added, renamed or retyped in a handler fails here. They run in a
sandbox: files under a temporary host root and recording stand-ins for the
tools that change the machine (tests run as root in CI), with the
machine's read-only tools (``ip``) behind them.
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
from agent.operations.host import Host
from agent.operations.network_files import render_netplan
from common.operations import plugins
from common.operations.catalog import BUILTIN, BUILTIN_FAMILIES, add_families, validate_params
from common.operations.certificate import EXAMPLE_PEM
from common.operations.declaration import Declaration, Family
from common.operations.network_config import InterfaceSettings
from tests.catalogs import restored_tables
from tests.standins import Answer, Standins, capture

CTX = OperationContext(hostname="agent-1.example.com", timeout=30.0, max_output_bytes=1024)
DRY = OperationContext(hostname="h", timeout=5.0, job_id="job-1", dry_run=True)
# Families that read or change the host's configuration run only on a
# temporary root with stand-ins: their own tests (tests/agent/operations/
# test_<family>.py) call each handler there and convert every result
# strictly, never here on this machine.
ON_A_TEMP_ROOT = frozenset(
    {"sysctl", "ntp", "timezone", "cron", "user", "group", "ssh_key", "docker"}
)
HERE = frozenset(name for name, spec in BUILTIN.items() if spec.family not in ON_A_TEMP_ROOT)


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
        "node.hostname.update": {"name": "new-name"},
        "command.exec": {"argv": ["echo", "hi"], "env": {"A": "1"}},
        "network.dns.get": {},
        "network.dns.update": {"nameservers": ["192.0.2.1"], "search": ["example.com"]},
        "network.ping": {"host": "127.0.0.1", "count": 3},
        "network.interface.list": {},
        "network.interface.get": {"name": "lo"},
        "network.interface.create": {"name": "eth2", "addresses": ["192.0.2.10/24"]},
        "network.interface.update": {"name": "eth1", "mtu": 9000},
        "network.interface.delete": {"name": "eth1"},
        "network.route.list": {},
        "network.route.get": {"destination": "127.0.0.1"},
        "network.route.create": {
            "interface": "eth1",
            "destination": "10.0.0.0/8",
            "gateway": "192.0.2.254",
        },
        "network.route.delete": {"interface": "eth1", "destination": "10.0.0.0/8"},
    }


def test_every_builtin_but_test_fail_has_data_to_run_with(tmp_path: Path) -> None:
    assert set(data_for(tmp_path)) == HERE - {"test.fail"}


async def _run(name: str, data: dict[str, Any], ctx: OperationContext) -> Any:
    spec: Declaration = BUILTIN[name]
    try:
        result = await registry.BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    except OperationSkipped as exc:
        pytest.skip(f"this host cannot run {name}: {exc.reason}")
    return msgspec.convert(result.data, spec.result, strict=True)


@pytest.mark.parametrize("name", sorted(HERE - {"test.fail"}))
async def test_a_handlers_real_result_converts_to_its_declared_type(
    name: str, tmp_path: Path, sandbox: Host
) -> None:
    await _run(name, data_for(tmp_path)[name], dataclasses.replace(CTX, host=sandbox))


async def test_node_disk_without_a_path_converts_too() -> None:
    await _run("node.disk.get", {}, CTX)


@pytest.mark.parametrize("name", sorted(n for n in HERE if not BUILTIN[n].read_only))
async def test_a_dry_runs_result_converts_and_touches_nothing(name: str, tmp_path: Path) -> None:
    data = data_for(tmp_path)[name]
    if name == "command.exec":
        data = {"argv": ["touch", str(tmp_path / "made")], "env": {"SECRET_A": "v"}}
    before = tree(sandbox.root)
    await _run(name, data, dataclasses.replace(DRY, host=sandbox))
    assert os.listdir(tmp_path) == []
    assert tree(sandbox.root) == before


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
