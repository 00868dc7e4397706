"""Run a built-in handler as the agent does, on a temporary host, and hold its result to type.

``on_host`` builds the context a family test needs: a host root under the
test's temporary directory and, as its whole path, the stand-ins: a tool a
test forgot to stand in is missing, never the machine's own (``sysctl -p``
as root would change this machine's kernel).
``run`` validates the data like the agent, calls the handler and converts
its result strictly to the declared result type, so every call a family
test makes also checks the declaration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from agent.operations.base import OperationContext
from agent.operations.host import Host
from agent.operations.registry import BUILTIN_HANDLERS
from common.operations.catalog import BUILTIN, validate_params
from common.operations.declaration import OperationResult
from tests.standins import Standins


def on_host(
    standins: Standins, *, dry_run: bool = False, path: str | None = None
) -> OperationContext:
    host = Host(standins.root, standins.only if path is None else path)
    return OperationContext(hostname="h", timeout=10, host=host, dry_run=dry_run)


def make_host(tmp_path: Path) -> Standins:
    root = tmp_path / "root"
    root.mkdir()
    return Standins.create(tmp_path, root)


async def run(name: str, data: dict[str, Any], ctx: OperationContext) -> OperationResult:
    result = await BUILTIN_HANDLERS[name](validate_params(name, data), ctx)
    msgspec.convert(result.data, BUILTIN[name].result, strict=True)
    return result
