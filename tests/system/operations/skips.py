"""The skip check the operation families' system tests end with."""

from __future__ import annotations

from typing import Any


def assert_skipped(detail: dict[str, Any], hostname: str, reason: str) -> None:
    """The agent answered ``skipped`` with ``reason``, in its state and its response."""
    state = detail["agent_states"][hostname]
    assert reason in (state["error"] or "")
    assert state["status"] == "skipped"
    assert detail["responses"][hostname]["status"] == "skipped"
