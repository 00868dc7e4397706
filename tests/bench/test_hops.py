"""bench/hops.py reads the trace points into step-to-step times, skipping steps not marked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.hops import gaps
from bench.pairs import GIT, ROOT


def test_steps_are_timed_in_order_and_missing_ones_skipped(tmp_path: Path) -> None:
    trace = tmp_path / "trace.log"
    trace.write_text(
        "100.002 11 j1 c_commit\n"
        "100.005 22 j1 a_recv\n"
        "100.004 11 j1 c_created\n"
        "100.009 11 j1 c_woken\n"
        "100.010 11 j1 c_woken\n"  # a second mark of a step: the first counts
    )
    found = gaps([("j1", 100.0, 100.012)], trace)
    assert {pair: pytest.approx(seconds[0]) for pair, seconds in found.items()} == {
        "client sends -> c_commit": 0.002,
        "c_commit -> c_created": 0.002,
        "c_created -> a_recv": 0.001,
        "a_recv -> c_woken": 0.004,
        "c_woken -> client reads": 0.003,
        "total": 0.012,
    }


def test_without_trace_points_only_the_total_is_timed(tmp_path: Path) -> None:
    found = gaps([("j1", 1.0, 1.5)], tmp_path / "absent.log")
    assert found == {"client sends -> client reads": [0.5], "total": [0.5]}


def test_the_trace_points_still_apply_to_this_tree() -> None:
    """A change to a traced line needs the patch made again (docs/performance.md)."""
    done = subprocess.run(
        [GIT, "apply", "--check", "bench/hops.patch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
