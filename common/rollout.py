"""Rolling rollouts: the settings, how shares round, how the expected set splits. Pure.

A rollout sends a broadcast or label job batch by batch rather than to its
whole expected set at once (controller/jobs/rollout.py runs it). Its
settings are stored in the job's meta as submitted; everything else is
derived from them and the expected set:

- ``batch_size``: a count of agents, or a share of the expected set
  (``"25%"``), which rounds **up** and is at least 1: ``"10%"`` of 15
  agents is 2, so no share ever makes more batches than 100 / share;
- ``max_failures``: a count, or a share, which rounds **down**: ``"10%"`` of
  15 agents allows 1 failure, never more than the share says. The rollout
  stops once failures *exceed* it (unset: it never stops);
- ``max_concurrency``: at most this many agents of a batch run at once, the
  next one sent as one finishes (unset: the whole batch at once);
- ``pause``: seconds between one batch's last answer and the next batch.

Batches follow the expected set's sorted hostname order.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

import msgspec

SHARE = r"^(100|[0-9]{1,2})(\.[0-9]{1,6})?%$"
# A count of agents, or a share of the expected set such as "25%".
BatchSize = Annotated[int, msgspec.Meta(ge=1)] | Annotated[str, msgspec.Meta(pattern=SHARE)]
FailureLimit = Annotated[int, msgspec.Meta(ge=0)] | Annotated[str, msgspec.Meta(pattern=SHARE)]
MAX_PAUSE = 24 * 3600.0
# What counts against max_failures: an agent that ran and failed, or never answered.
FAILURES = frozenset({"failed", "timeout"})


class Rollout(msgspec.Struct, frozen=True, kw_only=True):
    """A rollout's settings, as submitted (``rollout`` in ``POST /job``)."""

    batch_size: BatchSize
    pause: Annotated[float, msgspec.Meta(ge=0, le=MAX_PAUSE)] = 0.0
    max_failures: FailureLimit | None = None
    max_concurrency: Annotated[int, msgspec.Meta(ge=1)] | None = None


def percent(share: str) -> float:
    """``"25%"`` -> 25.0."""
    if not re.fullmatch(SHARE, share):
        raise ValueError(f"not a share: {share!r}")
    return float(share[:-1])


def batch_agents(setting: int | str, agents: int) -> int:
    """Agents per batch out of ``agents``: a share rounds up, at least 1, at most ``agents``."""
    if isinstance(setting, str):
        count = math.ceil(percent(setting) * agents / 100 - 1e-9)
    else:
        count = setting
    return max(1, min(count, agents))


def failures_allowed(setting: int | str | None, agents: int) -> int | None:
    """Failures the rollout tolerates out of ``agents`` (a share rounds down); None: any."""
    if setting is None:
        return None
    if isinstance(setting, str):
        return math.floor(percent(setting) * agents / 100 + 1e-9)
    return setting


def batches(expected: list[str], rollout: Rollout) -> list[list[str]]:
    """The expected set in sorted hostname order, cut into batches."""
    hosts = sorted(expected)
    size = batch_agents(rollout.batch_size, len(hosts))
    return [hosts[i : i + size] for i in range(0, len(hosts), size)]


def batch_count(expected: int, rollout: Rollout) -> int:
    if expected == 0:
        return 0
    return math.ceil(expected / batch_agents(rollout.batch_size, expected))


def stopped_reason(failures: int) -> str:
    """The ``skipped`` error of the agents a stopped rollout never sent the job to."""
    return f"rollout stopped after {failures} failure{'' if failures == 1 else 's'}"
