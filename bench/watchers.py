"""Round trip and fold rate with 10 SSE watchers attached, beside the same without. I/O: all.

The watchers are ``GET /events`` firehoses, each told every job's status
change, read as they come by a process of their own (bench/watch_clients.py),
so the measuring client's loop is not theirs; each must have seen changes,
or the pair compares nothing. The change feed costs the fold nothing when nobody watches
(controller/watch/changes.py); with watchers the controller also streams
to them, which this measures. Runs without and with alternate, in rounds,
after a short warm-up, so a load that drifts during the run (a shared
machine) falls on both sides alike rather than on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import nats

from bench import scenarios
from bench.fold import fold_rate
from bench.report import Row, rate_row, time_row
from bench.stack import BenchFailure, Stack
from bench.watch_clients import SUBSCRIBE_WITHIN, SUBSCRIBED
from controller.watch.changes import ChangeFeed

WATCHERS = 10
ROUNDS = 3  # alternations of a run without and a run with the watchers
T = TypeVar("T")


@contextlib.asynccontextmanager
async def watching(stack: Stack, count: int = WATCHERS) -> AsyncIterator[list[int]]:
    """``count`` firehose watchers (bench/watch_clients.py), subscribed when the block
    starts; after it, the list holds the change events each read."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.watch_clients",
        stack.url,
        str(count),
        env={**os.environ, "CORRAL_API_KEY": stack.api_key},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    changes: list[int] = []
    try:
        if await _line(child, "subscribed") != SUBSCRIBED:
            raise BenchFailure(f"the watchers did not subscribe (exit status {await child.wait()})")
        yield changes
        # A last change after the run's, which every reader must see before it counts.
        fence = await _fence(stack)
        child.stdin.write(f"{fence}\n".encode())
        await child.stdin.drain()
        child.stdin.close()
        changes += json.loads(await _line(child, "their counts"))
        if not all(changes):
            raise BenchFailure(f"watchers saw no change: {changes}")
    finally:
        if child.returncode is None:
            child.terminate()  # our own child, by its PID
        await child.wait()


async def _fence(stack: Stack) -> str:
    """Tell the watchers of a made-up job's change, on the change feed, after the run's."""
    fence = f"bench-fence-{uuid.uuid4()}"
    nc = await nats.connect(stack.nats_url, name="bench-fence")
    try:
        await ChangeFeed(nc).publish({fence: "completed"}, {fence: "bench.fence"})
        await nc.flush()
    finally:
        await nc.close()
    return fence


async def _line(child: asyncio.subprocess.Process, what: str) -> str:
    assert child.stdout is not None
    try:
        async with asyncio.timeout(SUBSCRIBE_WITHIN):
            return (await child.stdout.readline()).decode().strip()
    except TimeoutError:
        raise BenchFailure(f"no word from the watchers in {SUBSCRIBE_WITHIN:g} s: {what}") from None


def named(watchers: int) -> str:
    return f", {watchers} SSE watchers"


async def paired(
    stack: Stack, run: Callable[[int], Awaitable[T]], total: int
) -> tuple[list[T], list[T], str]:
    """``run`` without then with watchers, ``ROUNDS`` times, ``total`` split over the rounds;
    what each side returned, and what the watchers read."""
    without: list[T] = []
    with_them: list[T] = []
    changes: list[int] = []
    for share in scenarios.split(total, ROUNDS):
        if share:
            without.append(await run(share))
            async with watching(stack) as attached:
                with_them.append(await run(share))
            changes += attached
    return without, with_them, f"watchers read {min(changes):,}-{max(changes):,} changes each"


def warm_up(count: int) -> int:
    """Round trips run first to warm the stack."""
    return max(count // 5, 5)


async def round_trips(stack: Stack, count: int, core_rtt: float) -> list[Row]:
    """The round trip without and with the watchers: agents must be running."""
    await scenarios.round_trip_latencies(stack, warm_up(count))  # not reported

    async def run(share: int) -> list[float]:
        return await scenarios.round_trip_latencies(stack, share)

    without, with_them, read = await paired(stack, run, count)
    rows = []
    for watchers, runs in ((0, without), (WATCHERS, with_them)):
        latencies = [seconds for each in runs for seconds in each]
        rounds = ", ".join(f"{statistics.median(each) * 1000:.2f}" for each in runs)
        note = f"{count} sequential jobs; p50 of each round {rounds} ms"
        note += f"; {read}" if watchers else ""
        rows += [
            time_row(
                "round trip p50" + named(watchers),
                statistics.median(latencies),
                ceiling=core_rtt,
                ceiling_name="NATS request/reply",
                notes=note,
            ),
            time_row(
                "round trip p99" + named(watchers), scenarios.quantile(latencies, 0.99), notes=note
            ),
        ]
    return rows


async def fold_rates(
    stack: Stack, job_count: int, js_ceiling: float, redis_ceiling: float
) -> list[Row]:
    """The fold rate without and with the watchers, each the median of its rounds."""

    async def run(_: int) -> Row:
        return await fold_rate(stack, job_count, js_ceiling, redis_ceiling)

    without, with_them, read = await paired(stack, run, ROUNDS)
    rows = []
    for watchers, runs in ((0, without), (WATCHERS, with_them)):
        rounds = ", ".join(f"{row.value:,.0f}" for row in runs)
        note = f"median of {ROUNDS} runs of {job_count} jobs: {rounds}"
        note += f"; {read}" if watchers else ""
        rows.append(
            rate_row(
                "fold rate" + named(watchers),
                statistics.median(row.value for row in runs),
                "events/s",
                ceiling=js_ceiling,
                ceiling_name="JetStream fetch+ack",
                notes=note,
            )
        )
    return rows
