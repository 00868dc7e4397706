"""``python -m bench.pairs``: both sides run alternately and are set side by side.

The table is checked on made-up figures; one real comparison (this tree
against its own HEAD, the fold group at smoke sizes) checks that a worktree
is made, both sides run from their own trees and the worktree is gone after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.pairs import GIT, ROOT, Figures, figures, order, pair_table

SMOKE_FOLD = ("--only", "fold", "--sizes", "smoke", "--rounds", "1")


def test_each_side_goes_first_as_often_as_the_other() -> None:
    assert order(1) == ["before", "after"]
    assert order(2) == ["before", "after", "after", "before"]
    assert order(3).count("before") == 3


def test_the_table_sets_each_scenario_both_sides_measured_side_by_side() -> None:
    before: list[Figures] = [
        {"round trip p50": (8.0, "ms"), "gone": (1.0, "x")},
        {"round trip p50": (10.0, "ms")},
    ]
    after: list[Figures] = [
        {"round trip p50": (6.0, "ms"), "new": (2.0, "x")},
        {"round trip p50": (7.0, "ms")},
    ]
    lines = pair_table(before, after).splitlines()
    assert lines[0].split() == [
        "scenario", "before", "1", "before", "2", "after", "1", "after", "2",
        "median", "before", "median", "after", "change",
    ]  # fmt: skip
    assert len(lines) == 3  # header, rule, the one scenario both sides have
    assert lines[2].split() == [
        "round", "trip", "p50", "8", "10", "6", "7", "9", "ms", "6.5", "ms", "-28", "%",
    ]  # fmt: skip


def test_figures_are_read_from_a_results_document() -> None:
    document = {"rows": [{"scenario": "fold rate", "value": 21053, "unit": "events/s"}]}
    assert figures(document) == {"fold rate": (21053.0, "events/s")}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_comparison_runs_both_trees_and_leaves_no_worktree() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.pairs", "HEAD", *SMOKE_FOLD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "run 1: before (" in done.stdout
    assert "run 2: after (this tree)" in done.stdout
    assert any(line.startswith("fold rate ") for line in done.stdout.splitlines())
    listed = subprocess.run(
        [GIT, "worktree", "list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "corral-pairs-" not in listed.stdout


def test_a_revision_that_does_not_exist_is_refused_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.pairs", "no-such-revision"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "PAIRS FAILED: git rev-parse" in done.stderr
