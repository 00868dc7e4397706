"""How much each scenario does, per named size set. No I/O.

``full`` is ``make bench`` (under 10 minutes on 2 cores), ``quick`` is
``make bench-quick`` (under 2 minutes), ``smoke`` is the test suite's check
that the machinery works (every scenario, tiny counts, correctness only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    ceiling_messages: int
    round_trips: int
    throughput_jobs: int
    read_seconds: float
    fold_jobs: int
    processes: int
    swarms: tuple[int, ...]
    big_swarm: int  # its broadcast job is the big job whose detail reads are measured
    reps: int
    controller_jobs: int  # top up with more jobs until the controller handled this many
    # Sizes of the cluster-swarm group (bench/cluster_swarm.py), each on a cluster
    # of its own; none in the quick and smoke sets, which it would outlast.
    cluster_swarms: tuple[int, ...] = ()


SIZES = {
    "full": Sizes(
        ceiling_messages=50_000,
        round_trips=1_000,
        throughput_jobs=10_000,
        read_seconds=5.0,
        fold_jobs=2_000,
        processes=50,
        # 10,000 holds in one swarm process but takes minutes to bring up and
        # run three times; measure it on its own: --only swarm --swarm 10000.
        swarms=(10, 100, 1_000),
        big_swarm=1_000,
        reps=3,
        controller_jobs=100_000,
        # 10,000 did not come up on this project's 2-core machine (docs/scaling.md).
        cluster_swarms=(1_000,),
    ),
    "quick": Sizes(
        ceiling_messages=20_000,
        round_trips=300,
        throughput_jobs=3_000,
        read_seconds=2.0,
        fold_jobs=300,
        processes=10,
        swarms=(10, 100, 1_000),
        big_swarm=1_000,
        reps=2,
        controller_jobs=0,
    ),
    "smoke": Sizes(
        ceiling_messages=2_000,
        round_trips=20,
        throughput_jobs=100,
        read_seconds=0.5,
        fold_jobs=16,
        processes=2,
        swarms=(5,),
        big_swarm=5,
        reps=1,
        controller_jobs=0,
    ),
}
