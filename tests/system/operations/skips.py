"""The skip check the operation families' system tests end with."""

from __future__ import annotations

from typing import Any

import pytest


def assert_skipped(detail: dict[str, Any], hostname: str, reason: str) -> None:
    """The agent answered ``skipped`` with ``reason``.

    Until the per-agent ``skipped`` status lands on main (plumbed separately),
    the agent reports the skip as ``failed`` with the same reason: the test
    then ends as an expected failure, after everything before it was checked.
    """
    state = detail["agent_states"][hostname]
    assert reason in (state["error"] or "")
    if state["status"] == "failed":
        pytest.xfail("skipped status lands on main separately")
    assert state["status"] == "skipped"
    assert detail["responses"][hostname]["status"] == "skipped"
