"""What every operation handler shares: its context, its failure, its type. No I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from common.operations.declaration import OperationResult


@dataclass(frozen=True)
class OperationContext:
    """What a handler may know about the run: who it is and what it may spend."""

    hostname: str
    timeout: float  # seconds the operation may run
    max_output_bytes: int = 65536
    job_id: str = ""
    # Compute what the operation would do and touch nothing (docs/api.md).
    dry_run: bool = False


class OperationFailed(Exception):
    """The operation failed; ``message`` becomes the ``failed`` event's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Handler = Callable[[Any, OperationContext], Awaitable[OperationResult]]
