"""Results: one row per measured figure, printed as a table and written as JSON. I/O: files.

A row carries corral's figure, the issue's target (if any), and the bare
ceiling measured in the same run with the ratio ``corral / ceiling`` for
rates and ``ceiling / corral`` for times, so 1.0 means "as fast as the bare
part" in both cases.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec


class Row(msgspec.Struct, kw_only=True):
    scenario: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    ceiling: float | None = None
    ceiling_name: str = ""
    ratio: float | None = None
    notes: str = ""


def time_row(
    scenario: str,
    seconds: float,
    *,
    limit: float | None = None,
    ceiling: float | None = None,
    ceiling_name: str = "",
    notes: str = "",
) -> Row:
    """A latency in ms; ``limit`` (seconds) is the target's upper bound."""
    return Row(
        scenario=scenario,
        value=round(seconds * 1000, 2),
        unit="ms",
        target=f"<= {limit * 1000:g} ms" if limit is not None else "",
        met=None if limit is None else seconds <= limit,
        ceiling=None if ceiling is None else round(ceiling * 1000, 3),
        ceiling_name=ceiling_name,
        ratio=None if not ceiling else round(ceiling / seconds, 3),
        notes=notes,
    )


def rate_row(
    scenario: str,
    rate: float,
    unit: str,
    *,
    floor: float | None = None,
    ceiling: float | None = None,
    ceiling_name: str = "",
    notes: str = "",
) -> Row:
    """A rate; ``floor`` is the target's lower bound."""
    return Row(
        scenario=scenario,
        value=round(rate, 1),
        unit=unit,
        target=f">= {floor:,g} {unit}" if floor is not None else "",
        met=None if floor is None else rate >= floor,
        ceiling=None if ceiling is None else round(ceiling, 1),
        ceiling_name=ceiling_name,
        ratio=None if not ceiling else round(rate / ceiling, 3),
        notes=notes,
    )


def memory_row(scenario: str, rss: int, *, limit_mb: float | None = None, notes: str = "") -> Row:
    mb = rss / 2**20
    return Row(
        scenario=scenario,
        value=round(mb, 1),
        unit="MB",
        target=f"<= {limit_mb:g} MB" if limit_mb is not None else "",
        met=None if limit_mb is None else mb <= limit_mb,
        notes=notes,
    )


def figure_row(scenario: str, value: float, unit: str, *, notes: str = "") -> Row:
    """A measured quantity with no target (a cost per agent, per job...)."""
    return Row(scenario=scenario, value=round(value, 3), unit=unit, notes=notes)


def table(rows: list[Row]) -> str:
    header = ("scenario", "corral", "target", "met", "ceiling (same run)", "ratio")
    lines = [header]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        ceiling = f"{row.ceiling:,g} ({row.ceiling_name})" if row.ceiling is not None else ""
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        lines.append((row.scenario, f"{row.value:,g} {row.unit}", row.target, met, ceiling, ratio))
    return columns(lines)


def columns(lines: Sequence[Sequence[str]]) -> str:
    """Lines of cells as aligned text columns, the first line a header ruled off."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        **extra,
        "rows": [msgspec.to_builtins(row) for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
