"""The cluster-swarm group's pure helpers (bench/cluster_swarm.py, bench/cluster_stack.py)."""

from __future__ import annotations

import pytest

from bench.cluster_stack import BENCH_USER, accounts
from bench.cluster_swarm import AGENTS_PER_PROCESS, net_of_idle, per_agent, swarm_counts


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1_000, [334, 333, 333]),
        (10_000, [3_334, 3_333, 3_333]),
        (30_000, [5_000] * 6),
        (30_001, [4_286] * 6 + [4_285]),
        (2, [1, 1]),
    ],
)
def test_swarm_counts_cover_every_node_and_cap_each_process(
    count: int, expected: list[int]
) -> None:
    found = swarm_counts(count)
    assert sum(found) == count
    assert max(found) <= AGENTS_PER_PROCESS
    assert found == expected


def test_per_agent_divides_the_growth_of_names_read_both_times() -> None:
    before = {"nats-1": 1_000, "nats-2": 2_000, "gone": 5}
    after = {"nats-1": 11_000, "nats-2": 2_000}
    assert per_agent(before, after, 100) == {"nats-1": 100.0, "nats-2": 0.0}


def test_net_of_idle_subtracts_the_background_and_never_goes_negative() -> None:
    assert net_of_idle(2.0, 0.25, 4.0) == pytest.approx(1.0)
    assert net_of_idle(0.5, 0.25, 4.0) == 0.0


def test_the_bench_user_joins_the_corral_account_with_no_permission_list() -> None:
    text = accounts("controller-pw", "bench-pw")
    corral = text[text.index("CORRAL {") : text.index("SYS {")]
    line = next(line for line in corral.splitlines() if f"user: {BENCH_USER}," in line)
    assert '"bench-pw"' in line
    assert "permissions" not in line
    assert "user: agent-" not in text  # no agent host: the swarms are the bench user
    assert "$2a$11$REPLACE" not in corral  # the controller's placeholder filled in
