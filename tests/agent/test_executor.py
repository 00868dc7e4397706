"""Tests for agent/executor.py: allow-list, validation, time limit and error shaping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.executor import allowed_operations, run_operation
from agent.operations.base import OperationContext, OperationFailed
from agent.operations.registry import HANDLERS
from common.operations.catalog import BUILTIN, add_families
from common.operations.declaration import Declaration, Family, NoParams, OperationResult
from tests.catalogs import restored_tables

CTX = OperationContext(hostname="agent-1", timeout=30.0)
ALL = allowed_operations(())


def test_an_empty_allow_list_allows_every_operation_but_the_opt_in_ones() -> None:
    assert allowed_operations(()) == frozenset(BUILTIN) - {"test.counter", "command.shell"}
    assert "test.counter" in allowed_operations(("test.counter",))


def test_an_allow_list_is_taken_as_given() -> None:
    assert allowed_operations(["test.ping", "node.os.get"]) == {"test.ping", "node.os.get"}


def test_a_family_glob_takes_the_family_but_its_opt_in_operations() -> None:
    node = {name for name in BUILTIN if name.startswith("node.")}
    assert allowed_operations(["node.*"]) == node
    assert allowed_operations(["test.*"]) == {
        "test.ping",
        "test.echo",
        "test.sleep",
        "test.fail",
        "test.skip",
    }
    assert "test.counter" in allowed_operations(["test.*", "test.counter"])


def test_an_unknown_family_glob_is_named() -> None:
    with pytest.raises(ValueError, match=r"allow-list: nosuch\.\*; known families: "):
        allowed_operations(["node.*", "nosuch.*"])


def test_a_plugin_family_on_the_allow_list_is_loaded_and_bound() -> None:
    with restored_tables():
        assert allowed_operations(["example.*"]) == {"example.greeting.get"}
        assert "example.greeting.get" in HANDLERS
        assert allowed_operations(["example.greeting.get"]) == {"example.greeting.get"}
    assert "example.greeting.get" not in HANDLERS


def test_a_plugin_family_not_on_the_allow_list_is_not_loaded() -> None:
    with restored_tables():
        allowed_operations(["node.*"])
        assert "example.greeting.get" not in HANDLERS


def test_unknown_names_in_the_allow_list_are_named() -> None:
    with pytest.raises(
        ValueError,
        match=r"allow-list: node\.reboot, shell; known families: certificate, command, cron",
    ):
        allowed_operations(["test.ping", "shell", "node.reboot"])


async def test_runs_an_allowed_operation() -> None:
    result = await run_operation("test.echo", {"data": [1, 2]}, CTX, ALL)
    assert result == OperationResult(data=[1, 2], changed=False)


async def test_refuses_an_operation_off_the_allow_list() -> None:
    allowed = allowed_operations(["test.ping"])
    with pytest.raises(OperationFailed) as info:
        await run_operation("command.exec", {"argv": ["true"]}, CTX, allowed)
    assert info.value.message == "operation command.exec is not on this agent's allow-list"


async def test_an_unknown_operation_is_reported_as_unknown() -> None:
    with pytest.raises(OperationFailed, match=r"unknown operation type 'node\.reboot'; known: "):
        await run_operation("node.reboot", {}, CTX, ALL)


async def test_a_dry_run_of_a_mutation_without_dry_run_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = []

    async def writes(params: Any, ctx: OperationContext) -> OperationResult:
        ran.append(ctx)
        return OperationResult(changed=True)

    no_dry = Declaration(
        name="demo.write",
        params=NoParams,
        result=None,
        kind="mutate",
        summary="Writes.",
        description="Writes, and knows no dry run.",
    )
    with restored_tables():
        add_families([Family(name="demo", summary="s", declarations=(no_dry,))])
        monkeypatch.setitem(HANDLERS, "demo.write", writes)
        dry = OperationContext(hostname="agent-1", timeout=5.0, dry_run=True)
        with pytest.raises(OperationFailed) as info:
            await run_operation("demo.write", {}, dry, frozenset({"demo.write"}))
        refused = "operation demo.write does not support dry run; nothing was done"
        assert info.value.message == refused
        assert ran == []
        await run_operation("demo.write", {}, CTX, frozenset({"demo.write"}))
        assert ran == [CTX]


async def test_a_dry_run_reaches_the_handler() -> None:
    dry = OperationContext(hostname="agent-1", timeout=5.0, dry_run=True)
    result = await run_operation("command.exec", {"argv": ["false"]}, dry, ALL)
    assert result.changed is False
    assert result.data["would_run"]["argv"] == ["false"]


async def test_bad_params_fail_with_the_field_named() -> None:
    with pytest.raises(OperationFailed) as info:
        await run_operation("test.sleep", {"seconds": "1"}, CTX, ALL)
    assert info.value.message == "operation.data.seconds: Expected `float`, got `str`"


async def test_a_handler_failure_keeps_its_message() -> None:
    with pytest.raises(OperationFailed) as info:
        await run_operation("test.fail", {"message": "no"}, CTX, ALL)
    assert info.value.message == "no"


async def test_the_context_timeout_bounds_the_handler() -> None:
    ctx = OperationContext(hostname="agent-1", timeout=0.05)
    with pytest.raises(OperationFailed) as info:
        await run_operation("test.sleep", {"seconds": 60}, ctx, ALL)
    assert info.value.message == "operation timed out after 0.05s"


async def _raise(exc: BaseException) -> OperationResult:
    raise exc


async def test_an_unexpected_exception_becomes_a_one_line_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(params: Any, ctx: OperationContext) -> Any:
        return _raise(KeyError("MemTotal"))

    monkeypatch.setitem(HANDLERS, "test.ping", boom)
    with pytest.raises(OperationFailed) as info:
        await run_operation("test.ping", {}, CTX, ALL)
    assert info.value.message == "KeyError: 'MemTotal'"
    assert "Traceback" not in info.value.message
    assert isinstance(info.value.__cause__, KeyError)  # kept for the caller's log


async def test_a_handlers_own_timeout_error_is_not_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slow_dns(params: Any, ctx: OperationContext) -> Any:
        return _raise(TimeoutError("resolver timed out"))

    monkeypatch.setitem(HANDLERS, "test.ping", slow_dns)
    with pytest.raises(OperationFailed) as info:
        await run_operation("test.ping", {}, CTX, ALL)
    assert info.value.message == "TimeoutError: resolver timed out"


async def test_cancellation_reaches_the_handler_and_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered = asyncio.Event()
    cleaned_up = asyncio.Event()

    async def waits(params: Any, ctx: OperationContext) -> OperationResult:
        entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()
        raise AssertionError("unreachable")

    monkeypatch.setitem(HANDLERS, "test.ping", waits)
    task = asyncio.create_task(run_operation("test.ping", {}, CTX, ALL))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()
