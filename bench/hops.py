"""``python -m bench.hops [JOBS] [TARGET]``: where a synchronous round trip's time goes.

I/O: processes, HTTP. Runs ``JOBS`` sequential ``POST /job?wait=`` round trips
(``test.ping`` to ``TARGET``, ``_any`` by default) against three agent
processes, like the bench's round trip, and prints the time between
consecutive steps of a job's path (median, 90th and 99th percentiles: the
last two say which steps make the tail), read from the trace points the processes
wrote to ``CORRAL_TRACE_FILE``. The trace points are not in the code: apply
``bench/hops.patch`` first (``git apply bench/hops.patch``) and take it out
afterwards (``git apply -R bench/hops.patch``). Without the patch the steps
are missing and only the client's total is printed. Each point is one line
written to a file, which adds a little to every step; compare runs of this
tool with each other, not with the bench.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench import loadgen
from bench.scenarios import SUBMIT, WAIT, quantile
from bench.stack import Stack
from devstack.servers import EmbeddedServers

# A job's steps in the order they usually happen; a step a run did not mark is skipped.
STEPS = (
    "c_commit",  # controller: the submit's group commit starts
    "c_created",  # its record is written
    "c_published",  # its signed message is handed to nats-py
    "a_recv",  # an agent has it (verified)
    "c_acked",  # the controller has JetStream's ack of the publish
    "c_dispatched",  # and its dispatched mark is written
    "a_claimed",  # the agent holds the _any claim
    "a_operated",  # the operation ran
    "a_journaled",  # its terminal journal entry is written (or queued)
    "a_stored",  # JetStream stored the terminal event
    "k_in",  # the collector has it
    "k_applied",  # and has written it
    "w_seen",  # the waiter's process is told
    "k_fed",  # the change feed is published
    "c_woken",  # the waiting request wakes
    "c_body",  # and has read the job's detail
)


async def round_trips(count: int, target: str) -> list[tuple[str, float, float]]:
    """(job id, sent, answered) of ``count`` sequential synchronous submits."""
    with EmbeddedServers() as servers:
        stack = Stack(servers)
        try:
            await stack.start_controller()
            await stack.start_agents(3)
            [connection] = await loadgen.open_pool(stack.url, stack.api_key, 1)
            body = json.dumps({**SUBMIT, "target": target}).encode()
            done = []
            try:
                for _ in range(count):
                    sent = time.time()
                    status, payload = await connection.request("POST", f"/job?wait={WAIT}", body)
                    answered = time.time()
                    if status != 201:
                        raise SystemExit(f"POST /job?wait={WAIT}: {status} {payload[:200]!r}")
                    done.append((str(json.loads(payload)["id"]), sent, answered))
            finally:
                await loadgen.close_pool([connection])
            return done
        finally:
            await stack.close()


def gaps(done: list[tuple[str, float, float]], trace: Path) -> dict[str, list[float]]:
    """Seconds between consecutive marked steps of each job, by step pair."""
    marks: dict[str, dict[str, float]] = defaultdict(dict)
    if trace.exists():
        for line in trace.read_text().splitlines():
            at, _, job_id, step = line.split()
            marks[job_id].setdefault(step, float(at))
    found: dict[str, list[float]] = defaultdict(list)
    for job_id, sent, answered in done:
        previous, then = "client sends", sent
        for step in STEPS:
            if step in marks[job_id]:
                found[f"{previous} -> {step}"].append(marks[job_id][step] - then)
                previous, then = step, marks[job_id][step]
        found[f"{previous} -> client reads"].append(answered - then)
        found["total"].append(answered - sent)
    return found


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    target = sys.argv[2] if len(sys.argv) > 2 else "_any"
    with tempfile.TemporaryDirectory() as scratch:
        trace = Path(scratch) / "trace.log"
        os.environ["CORRAL_TRACE_FILE"] = str(trace)  # the children inherit it
        done = asyncio.run(round_trips(count, target))
        warm = done[count // 5 :]  # the first fifth warms the stack
        for pair, seconds in gaps(warm, trace).items():
            if len(seconds) >= len(warm) // 2:  # a pair most jobs took
                p50, p90, p99 = (quantile(seconds, q) * 1000 for q in (0.5, 0.9, 0.99))
                print(f"{pair:34s} p50 {p50:7.3f} ms  p90 {p90:7.3f} ms  p99 {p99:7.3f} ms")


if __name__ == "__main__":
    main()
