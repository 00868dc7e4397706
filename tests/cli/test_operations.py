"""``corral run`` and ``corral operation`` with click's CliRunner against a real stack.

The CLI is synchronous (httpx) and the stack serves in this test's event
loop, so each invocation runs in a thread while the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result

from cli.main import main
from tests.harness import ADMIN_KEY, Stack

HOST = "web-1.dev.local"


@pytest.fixture(autouse=True)
def _logs_apart() -> Iterator[None]:
    """The stack logs to the stream pytest captures now, not to the CLI's stdout of the moment."""
    config = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    yield
    structlog.configure(**config)


async def corral(stack: Stack, *args: str) -> Result:
    env = {"CORRAL_URL": str(stack.api.base_url), "CORRAL_API_KEY": ADMIN_KEY}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def detail_of(stack: Stack, *args: str) -> dict[str, Any]:
    result = await corral(stack, "run", *args, "--target", HOST, "--wait", "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


async def test_run_help_lists_every_operation_and_each_has_typed_flags(stack: Stack) -> None:
    listing = await corral(stack, "run", "--help")
    assert listing.exit_code == 0
    for name in ("command.exec", "node.disk.get", "test.sleep", "example.greeting.get"):
        assert name in listing.output
    exec_help = await corral(stack, "run", "command.exec", "--help")
    assert exec_help.exit_code == 0
    text = " ".join(exec_help.output.split())
    assert "--argv TEXT The program and its arguments. [list of string; repeat the flag]" in text
    assert "[map of string to string; repeat the flag, KEY=VALUE]" in text
    assert "--timeout FLOAT" in text
    assert "kind: mutate, scope: command:write, platforms: linux, dry run: yes" in text
    assert "corral run command.exec --argv uname --argv -a --timeout 10" in text
    assert "--target TEXT" in text
    assert "--dry-run" in text


async def test_run_submits_typed_data_and_waits_for_the_detail(stack: Stack) -> None:
    await stack.start_agent(HOST, allow=("test.*", "command.exec", "node.*"))
    slept = await detail_of(stack, "test.sleep", "--seconds", "0")
    assert slept["status"] == "completed"
    assert slept["operation"] == {"type": "test.sleep", "data": {"seconds": 0.0}}
    echoed = await detail_of(stack, "test.echo", "--data", '{"k": [1, "two"]}')
    assert echoed["result"] == {"k": [1, "two"]}
    shell = ["--argv", '["sh", "-c", "echo $A-$B"]', "--env", "A=1", "--env", "B=2"]
    ran = await detail_of(stack, "command.exec", *shell)
    assert ran["result"]["stdout"] == "1-2\n"
    plain = await corral(stack, "run", "node.os.get", "--target", HOST)
    assert plain.exit_code == 0, plain.output
    uuid.UUID(plain.stdout.strip())  # without --wait: the job id


async def test_run_dry_run_changes_nothing(stack: Stack, tmp_path: Path) -> None:
    await stack.start_agent(HOST, allow=("command.exec",))
    witness = tmp_path / "made"
    detail = await detail_of(
        stack, "command.exec", "--argv", "touch", "--argv", str(witness), "--dry-run"
    )
    assert detail["operation"]["dry_run"] is True
    assert detail["changed"] is False
    assert detail["result"]["would_run"]["argv"] == ["touch", str(witness)]
    assert not witness.exists()


async def test_run_reports_usage_and_api_errors(stack: Stack) -> None:
    await stack.start_agent(HOST)
    missing = await corral(stack, "run", "test.sleep", "--target", HOST)
    assert missing.exit_code == 2
    assert "Missing option '--seconds'" in missing.output
    typed = await corral(stack, "run", "test.sleep", "--seconds", "soon", "--target", HOST)
    assert typed.exit_code == 2
    assert "'soon' is not a valid float" in typed.output
    refused = await corral(stack, "run", "test.sleep", "--seconds", "4000", "--target", HOST)
    assert refused.exit_code == 2
    assert "400 Invalid request parameters.: operation.data.seconds" in refused.stderr
    unknown = await corral(stack, "run", "node.reboot", "--target", HOST)
    assert unknown.exit_code == 2
    assert "No such command 'node.reboot'" in unknown.output


async def test_operation_list_and_show_ask_the_controller(stack: Stack) -> None:
    listing = await corral(stack, "operation", "list", "--json")
    assert listing.exit_code == 0, listing.output
    names = [item["name"] for item in json.loads(listing.stdout)["items"]]
    assert "command.exec" in names
    assert "example.greeting.get" in names
    table = await corral(stack, "operation", "list")
    assert "command:write" in table.output
    shown = await corral(stack, "operation", "show", "node.disk.get")
    assert shown.exit_code == 0, shown.output
    assert "node.disk.get" in shown.output
    assert "scope: node:read" in shown.output
    assert "path" in shown.output
    raw = json.loads((await corral(stack, "operation", "show", "node.disk.get", "--json")).stdout)
    assert raw["params_schema"]["$defs"]["DiskParams"]["properties"]["path"]
    unknown = await corral(stack, "operation", "show", "node.reboot")
    assert unknown.exit_code == 2
    assert "404 Operation not found." in unknown.stderr
