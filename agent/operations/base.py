"""What every operation handler shares: its context, its outcomes, its type. No I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.declaration import OperationResult

__all__ = ["Handler", "OperationContext", "OperationFailed", "OperationSkipped"]


@dataclass(frozen=True)
class OperationContext:
    """What a handler may know about the run: who it is and what it may spend."""

    hostname: str
    timeout: float  # seconds the operation may run
    max_output_bytes: int = 65536
    job_id: str = ""
    # Compute what the operation would do and touch nothing (docs/api.md).
    dry_run: bool = False
    # Where the handler reads and changes the host (agent/operations/host.py).
    host: Host = field(default_factory=Host)


Handler = Callable[[Any, OperationContext], Awaitable[OperationResult]]
