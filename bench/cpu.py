"""CPU per job, per process, from ``/proc/<pid>/stat`` around a throughput round. I/O: /proc.

Every process of the system under test is read (each controller process,
each agent, nats-server, redis-server), never the load generator, which is
this process. utime + stime cover all of a process's threads; the kernel
counts them in clock ticks (10 ms at the usual 100 Hz), so a round must
last long enough (thousands of jobs) for the figures to mean something.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.report import Row, time_row

TICK = 1.0 / os.sysconf("SC_CLK_TCK")
TOTAL = "total"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which may hold spaces and parentheses:
    # state is field 3 of stat(5), utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK


def sample(processes: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in processes.items()}


def per_job(before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
    """CPU milliseconds per job of each process seen both times, and their total."""
    spent = {name: (after[name] - before[name]) * 1000 / jobs for name in before if name in after}
    return {**spent, TOTAL: sum(spent.values())}


class Meter:
    """Reads every process before a round and after it; keeps each round's figures."""

    def __init__(self) -> None:
        self.rounds: dict[str, dict[str, float]] = {}
        self._before: dict[str, float] = {}
        self._processes: dict[str, int] = {}

    def start(self, processes: dict[str, int]) -> None:
        self._processes = dict(processes)
        self._before = sample(self._processes)

    def stop(self, name: str, jobs: int) -> dict[str, float]:
        found = per_job(self._before, sample(self._processes), jobs)
        self.rounds[name] = found
        return found


def cpu_row(name: str, found: dict[str, float], limit_ms: float | None, jobs: int) -> Row:
    """The round's total CPU per job as a table row (``limit_ms``: the target)."""
    return time_row(
        f"CPU per job, {name}",
        found[TOTAL] / 1000,
        limit=None if limit_ms is None else limit_ms / 1000,
        notes=f"all processes but the load generator, {jobs} jobs; per process: cpu table",
    )


def cpu_table(rounds: dict[str, dict[str, float]]) -> str:
    """Rounds down, processes across, CPU ms per job in each cell."""
    names = {name for found in rounds.values() for name in found} - {TOTAL}
    columns = [*sorted(names, key=_column_order), TOTAL]
    lines = [["CPU ms per job", *columns]]
    for name, found in rounds.items():
        lines.append([name, *(f"{found[c]:.3f}" if c in found else "" for c in columns)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in out)


def _column_order(name: str) -> tuple[int, str]:
    """Controller processes first, then the agents, then the servers."""
    if name.startswith("controller"):
        return 0, name
    return (2 if name in {"nats-server", "redis-server"} else 1), name
