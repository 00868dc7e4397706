"""How an operation ends other than with a result. No I/O."""

from __future__ import annotations


class OperationFailed(Exception):
    """The operation failed; ``message`` becomes the ``failed`` event's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperationSkipped(Exception):
    """The host lacks what the operation needs (a tool, a running service manager).

    ``reason`` becomes the ``skipped`` event's reason; the job counts the
    agent as neither completed nor failed (common/job.py).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
