"""``python -m bench.pairs REV [--only G] [--sizes S] [--rounds N]``: before and after, one run.

I/O: git, processes, files. Checks ``REV`` (a commit, a tag, ``HEAD~3``)
out in a temporary git worktree, then runs ``python -m bench`` with the same
options there ("before") and in this tree ("after"), alternately: before,
after, after, before, and so on for ``N`` rounds, so each side goes first
as often as the other. Each run starts its own servers and measures its own
bare parts, so the ceiling rows show how the machine drifted between runs.
It prints every scenario both sides measured, side by side: each run's
figure, each side's median and the change of the median. Both sides run
this tree's interpreter and installed packages; the worktree is removed at
the end. A side whose run fails (a job not checked, options its bench does
not take) stops the comparison with its output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.report import columns
from bench.sizes import SIZES

ROOT = Path(__file__).resolve().parents[1]
GIT = shutil.which("git") or "git"
SIDES = ("before", "after")

# One run's figures: scenario -> (value, unit).
Figures = dict[str, tuple[float, str]]


class PairFailure(Exception):
    """A side's run failed, or the revision could not be checked out."""


def order(rounds: int) -> list[str]:
    """The sides in running order: each round is a pair, every other pair reversed."""
    runs: list[str] = []
    for index in range(rounds):
        runs += SIDES if index % 2 == 0 else SIDES[::-1]
    return runs


def figures(document: Mapping[str, Any]) -> Figures:
    """The rows of a results file (bench/report.py ``write_json``)."""
    rows: list[dict[str, Any]] = document.get("rows", [])
    return {row["scenario"]: (float(row["value"]), str(row["unit"])) for row in rows}


def pair_table(before: list[Figures], after: list[Figures]) -> str:
    """Scenarios measured on both sides, in the order the last "after" run gave them."""
    names = [
        name for name in (after[-1] if after else {}) if all(name in run for run in before + after)
    ]
    header = (
        "scenario",
        *(f"before {i + 1}" for i in range(len(before))),
        *(f"after {i + 1}" for i in range(len(after))),
        "median before",
        "median after",
        "change",
    )
    lines: list[tuple[str, ...]] = [header]
    for name in names:
        unit = after[-1][name][1]
        old = [run[name][0] for run in before]
        new = [run[name][0] for run in after]
        old_median, new_median = statistics.median(old), statistics.median(new)
        change = f"{(new_median / old_median - 1) * 100:+.0f} %" if old_median else ""
        lines.append(
            (
                name,
                *(f"{v:,g}" for v in old),
                *(f"{v:,g}" for v in new),
                f"{old_median:,g} {unit}",
                f"{new_median:,g} {unit}",
                change,
            )
        )
    return columns(lines)


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PairFailure(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def run_bench(tree: Path, options: list[str], out: Path, log: Path) -> Figures:
    """``python -m bench`` from ``tree`` (its code, this interpreter): the figures it wrote."""
    # The tree's own packages first, for the bench and every process it starts.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with log.open("w") as output:
        done = subprocess.run(
            [sys.executable, "-m", "bench", *options, "--out", str(out)],
            cwd=tree,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise PairFailure(f"python -m bench in {tree} exited {done.returncode}:\n{tail}")
    return figures(json.loads(out.read_text()))


def compare(rev: str, options: list[str], rounds: int) -> tuple[str, list[Figures], list[Figures]]:
    """Run both sides ``rounds`` times; (the revision's short name, before runs, after runs)."""
    commit = git("rev-parse", "--verify", "--short", f"{rev}^{{commit}}")
    results: dict[str, list[Figures]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="corral-pairs-") as scratch:
        worktree = Path(scratch) / "before"
        git("worktree", "add", "--detach", str(worktree), commit)
        try:
            trees = {"before": worktree, "after": ROOT}
            for index, side in enumerate(order(rounds)):
                started = time.monotonic()
                out = Path(scratch) / f"{index}-{side}.json"
                log = Path(scratch) / f"{index}-{side}.log"
                results[side].append(run_bench(trees[side], options, out, log))
                took = time.monotonic() - started
                name = commit if side == "before" else "this tree"
                print(f"run {index + 1}: {side} ({name}), {took:.0f} s", flush=True)
        finally:
            subprocess.run(
                [GIT, "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
    return commit, results["before"], results["after"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pairs", description=__doc__)
    parser.add_argument("rev", help="the revision to compare this tree with (before)")
    parser.add_argument("--only", default="agents", help="scenario groups, as for python -m bench")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="quick", help="size set")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs (default 2)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    options = ["--sizes", args.sizes, "--only", args.only]
    try:
        commit, before, after = compare(args.rev, options, args.rounds)
    except PairFailure as exc:
        print(f"PAIRS FAILED: {exc}", file=sys.stderr)
        return 1
    runs = ", ".join(order(args.rounds))
    print(f"\nbefore: {commit}; after: this tree; {' '.join(options)}; runs: {runs}")
    print(pair_table(before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
