"""What every operation handler shares: its context, its outcomes, its type. No I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host
from common.operations.declaration import OperationResult

__all__ = ["Handler", "Objects", "OperationContext", "OperationFailed", "OperationSkipped"]


class Objects(Protocol):
    """Where a handler fetches deploy content by name (agent/objects.py)."""

    async def get(self, name: str) -> bytes:
        """The object's content, checked against the store's digest;
        :class:`OperationFailed` when it is missing, corrupt or unreachable."""
        ...


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
    # The controller's object store; None where the agent has none (file.deploy).
    objects: Objects | None = None


Handler = Callable[[Any, OperationContext], Awaitable[OperationResult]]
