"""Round trip and fold rate with 10 SSE watchers attached, beside the same without. I/O: all.

The watchers are ``GET /events`` firehoses, each told every job's status
change, read as they come; each must have seen changes, or the pair
compares nothing. The change feed costs the fold nothing when nobody watches
(controller/watch/changes.py); with watchers the controller also streams
to them, which this measures. Runs without and with alternate, in rounds,
after a short warm-up, so a load that drifts during the run (a shared
machine) falls on both sides alike rather than on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx

from bench import scenarios
from bench.fold import fold_rate
from bench.report import Row, rate_row, time_row
from bench.stack import BenchFailure, Stack

WATCHERS = 10
ROUNDS = 3  # alternations of a run without and a run with the watchers
SUBSCRIBE_WITHIN = 30.0
T = TypeVar("T")


class Watching:
    """``count`` open ``GET /events`` streams and the change events each has read."""

    def __init__(self, count: int) -> None:
        self.changes = [0] * count
        self.open = [asyncio.Event() for _ in range(count)]

    async def watch(self, client: httpx.AsyncClient, index: int) -> None:
        async with client.stream("GET", "/events") as response:
            if response.status_code != 200:
                raise BenchFailure(f"GET /events: {response.status_code}")
            async for line in response.aiter_lines():
                # The stream opens with a comment once the watcher is subscribed.
                self.open[index].set()
                if line == "event: change":
                    self.changes[index] += 1


@contextlib.asynccontextmanager
async def watching(stack: Stack, count: int = WATCHERS) -> AsyncIterator[Watching]:
    """``count`` firehose watchers, subscribed when the block starts, closed after it."""
    watching = Watching(count)
    client = httpx.AsyncClient(
        base_url=stack.url,
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=httpx.Timeout(30.0, read=None),
        limits=httpx.Limits(max_connections=count),
    )
    tasks = [asyncio.create_task(watching.watch(client, i)) for i in range(count)]
    try:
        await _subscribed(watching, tasks)
        yield watching
        if not all(watching.changes):
            raise BenchFailure(f"watchers saw no change: {watching.changes}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()


async def _subscribed(watching: Watching, tasks: list[asyncio.Task[None]]) -> None:
    """Once every watcher's stream is open; a stream that fails or ends stops the run."""
    try:
        async with asyncio.timeout(SUBSCRIBE_WITHIN):
            for opened in watching.open:
                waiter = asyncio.create_task(opened.wait())
                await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if ended := [task for task in tasks if task.done()]:
                    ended[0].result()  # raises what it raised
                    raise BenchFailure("a watcher's stream ended")
    except TimeoutError:
        raise BenchFailure(f"watchers not subscribed within {SUBSCRIBE_WITHIN:g} s") from None


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
            changes += attached.changes
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
        note = f"{count} sequential jobs in {ROUNDS} rounds" + (f"; {read}" if watchers else "")
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
        note = f"median of {ROUNDS} runs of {job_count} jobs" + (f"; {read}" if watchers else "")
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
