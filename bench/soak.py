"""Bounded soak: mixed load under a fault loop, then the checker's counts as JSON.

Run from the repository root::

    python -m bench.soak                # 5 minutes of load and faults
    python -m bench.soak --minutes 1

It starts its own nats-server and redis-server (AOF everysec), two
controllers sharing the event consumer, and three agents, all separate
processes (the fault suite's helpers, ``tests/faults``). While the load runs,
the fault loop SIGKILLs and restarts, in turn, an agent, nats-server,
redis-server and the second controller. When the time is up it stops
submitting, waits for every accepted job's deadline, classifies every job
(ok / lost / duplicated / double-counted) and prints one JSON object.
Exit status 1 if any job is not ok. I/O: processes, files under a temporary
directory (kept with ``--keep``), loopback sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.until import until
from tests.faults.checker import Checker
from tests.faults.cluster import Cluster, running_cluster
from tests.faults.load import load_round

HOSTS = ["soak-1.local", "soak-2.local", "soak-3.local"]
# Longer than the agents' 30 s ack wait, so a job whose agent was killed is
# redelivered and finishes properly rather than timing out.
JOB_TIMEOUT = 60.0
FAULT_EVERY = (5.0, 12.0)


async def ready(cluster: Cluster) -> bool:
    try:
        return (await cluster.api.get("/health/ready")).status_code == 200
    except Exception:  # noqa: BLE001 - the controller may be between lives
        return False


async def inject(cluster: Cluster, kind: str, rng: random.Random) -> None:
    """One fault: SIGKILL something, bring it back on the same port and data."""
    if kind == "agent":
        await cluster.agents[rng.choice(HOSTS)].restart()
    elif kind == "nats":
        await asyncio.to_thread(cluster.nats.kill)
        await asyncio.sleep(rng.uniform(0.5, 3.0))  # down for a while
        await asyncio.to_thread(cluster.nats.restart)
    elif kind == "redis":
        await asyncio.to_thread(cluster.redis.kill)
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        await asyncio.to_thread(cluster.redis.restart)
    elif kind == "controller":
        await cluster.controllers["c2"].restart()
    await until(lambda: ready(cluster), f"ready after a {kind} fault", within=60)


async def fault_loop(cluster: Cluster, stop: asyncio.Event, faults: Counter[str]) -> None:
    rng = random.Random(2)
    kinds = ["agent", "nats", "redis", "controller"]
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(*FAULT_EVERY))
        except TimeoutError:
            kind = kinds[sum(faults.values()) % len(kinds)]
            await inject(cluster, kind, rng)
            faults[kind] += 1


async def load_loop(
    cluster: Cluster, checker: Checker, counter: Path, stop: asyncio.Event, refused: Counter[int]
) -> None:
    rng = random.Random(1)
    while not stop.is_set():
        await load_round(
            cluster, checker, counter, HOSTS, job_timeout=JOB_TIMEOUT, refused=refused, rng=rng
        )
        # Pace the load to a steady trickle; the stop event ends the pause early.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def soak(minutes: float, root: Path) -> dict[str, Any]:
    async with running_cluster(root) as cluster:
        await cluster.add_controller("c1")
        await cluster.add_controller("c2")
        for host in HOSTS:
            await cluster.add_agent(host)
        checker = cluster.checker()
        counter = root / "counter.txt"
        refused: Counter[int] = Counter()
        faults: Counter[str] = Counter()
        stop = asyncio.Event()
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            group.create_task(load_loop(cluster, checker, counter, stop, refused))
            group.create_task(fault_loop(cluster, stop, faults))
            await asyncio.sleep(minutes * 60)
            stop.set()
        loaded = time.monotonic() - started
        verdict = await checker.check()
        report: dict[str, Any] = dict(verdict.counts())
        report.update(
            load_seconds=round(loaded, 1),
            total_seconds=round(time.monotonic() - started, 1),
            faults=dict(faults),
            refused_submits={str(code): n for code, n in refused.items()},
            problems={
                kind: dict(list(getattr(verdict, kind).items())[:10])
                for kind in ("lost", "duplicated", "double_counted")
                if getattr(verdict, kind)
            },
        )
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep the data and logs")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="corral-soak-"))
    try:
        report = asyncio.run(soak(args.minutes, root))
    finally:
        if args.keep:
            print(f"data and logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if report["jobs"] == report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
