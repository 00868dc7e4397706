"""How rollout shares round and how the expected set splits into batches. Pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.rollout import (
    Rollout,
    batch_agents,
    batch_count,
    batches,
    failures_allowed,
    stopped_reason,
)


@pytest.mark.parametrize(
    ("setting", "agents", "size"),
    [
        ("25%", 20, 5),
        ("10%", 15, 2),  # 1.5 rounds up
        ("1%", 20, 1),  # 0.2 rounds up, and a batch is never empty
        ("33.3%", 3, 1),  # 0.999 rounds up to 1
        ("100%", 7, 7),
        (5, 20, 5),
        (50, 20, 20),  # never more than the expected set
    ],
)
def test_a_batch_size_share_rounds_up_to_at_least_one(
    setting: int | str, agents: int, size: int
) -> None:
    assert batch_agents(setting, agents) == size


@pytest.mark.parametrize(
    ("setting", "agents", "allowed"),
    [
        ("10%", 15, 1),  # 1.5 rounds down
        ("10%", 9, 0),
        ("10%", 20, 2),
        ("0%", 20, 0),
        (3, 20, 3),
        (None, 20, None),
    ],
)
def test_a_failure_share_rounds_down(setting: int | str | None, agents: int, allowed: int) -> None:
    assert failures_allowed(setting, agents) == allowed


def test_batches_follow_sorted_hostnames() -> None:
    hosts = ["c", "a", "e", "b", "d"]
    assert batches(hosts, Rollout(batch_size=2)) == [["a", "b"], ["c", "d"], ["e"]]
    assert batch_count(5, Rollout(batch_size=2)) == 3


@given(st.integers(1, 500), st.integers(1, 100))
def test_every_agent_is_in_exactly_one_batch(agents: int, share: int) -> None:
    hosts = [f"h{i:03d}" for i in range(agents)]
    rollout = Rollout(batch_size=f"{share}%")
    cut = batches(hosts, rollout)
    assert [h for batch in cut for h in batch] == hosts
    assert len(cut) == batch_count(agents, rollout) <= 100 // share + 1


def test_the_stop_reason_counts_failures() -> None:
    assert stopped_reason(2) == "rollout stopped after 2 failures"
    assert stopped_reason(1) == "rollout stopped after 1 failure"
