"""``python -m bench`` still works: every scenario at tiny counts, correctness only.

The benchmark checks every job it runs (terminal, with the expected pongs)
and exits 1 otherwise; this test asserts that exit status and the shape of
the results file, never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = [
    "claim of an _any job, p50",
    "claims of _any jobs",
    "round trip p50",
    "round trip p50, host target (no claim)",
    "throughput, end to end",
    "throughput, host targets (no claim), end to end",
    "CPU per job, throughput",
    "throughput, 1 controller process, end to end",
    "throughput, 2 controller workers, end to end",
    "CPU per job, throughput, batch, 2 controller workers",
    "fold rate",
    "round trip p50, 0 SSE watchers",
    "round trip p50, 10 SSE watchers",
    "fold rate, 0 SSE watchers",
    "fold rate, 10 SSE watchers",
    "broadcast to 2 agent processes",
    "broadcast to 5 swarm agents",
    "GET /job/{id}, 3-agent job, p99",
    "GET /job/{id}, 5-agent job, p99",
    "RSS, idle agent process",
    "RSS, swarm of 5 agents",
]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_bench_smoke_runs_every_scenario_and_checks_its_jobs(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "smoke", "--out", str(out)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    scenarios = {row["scenario"]: row for row in results["rows"]}
    for name in EXPECTED:
        assert name in scenarios, f"{name} missing from {sorted(scenarios)}"
        assert scenarios[name]["value"] > 0
    assert any(name.startswith("RSS, controller after") for name in scenarios)
    assert [point["agents"] for point in results["fanout_series"]] == [5]
    # CPU per job of every process of the round: the controller's workers among them.
    two_workers = results["cpu_ms_per_job"]["throughput, 2 controller workers"]
    assert {"controller worker 0", "controller worker 1", "nats-server", "redis-server"} <= set(
        two_workers
    )
    assert two_workers["total"] > 0
