"""Many virtual agents in one process, for fan-out benchmarks. I/O: NATS, signals.

``corral agent swarm --count N`` builds N ordinary :class:`agent.daemon.Agent`
objects through :func:`agent.server.build_agent`, so each one has what a real
agent has: its own durable consumer over its own subjects (``_all``, its
hostname, its labels), its own pull loops on that consumer and on the shared
``corral-any`` consumer, its own signature check, events, ack rules and
heartbeats. What they share:

- one NATS connection (one socket, one reader task, one JetStream context);
- one event loop and one Python process, so their CPU is one core's worth;
- one set of facts, collected once (every virtual host reports this machine);
- one verifier (the controller's public key, parsed once);
- one cancel subscription (agent/cancels.py, as an agent process has one for
  its one agent): a cancel request is verified and remembered once for the
  process (one set of cancelled job ids, the newest 10,000), then every
  virtual agent stops the job if it runs it and journals the cancel.

What they do not share: each virtual agent verifies every job's signature
itself, journals it, publishes its own events, acks its own messages and
sends its own heartbeats, exactly as an agent process would. Each keeps an
in-memory journal (no ``journal_dir``: there is no host per agent to keep
one on), called inline: no thread per agent (agent/journal.py).

Once every agent is ready the swarm freezes the garbage collector's view of
what exists (``gc.freeze``): N agents' long-lived objects are never garbage,
and full collections would otherwise walk all of them again and again. From
then on the collector runs only its young generations on its own
(:func:`young_collections_only`). A broadcast keeps every virtual agent's
job objects alive for seconds, long enough to reach the old generation, so
CPython started a full collection every second or so during one; what those
walked grew with each broadcast (the journals, the pull loops' new waiting
state): for 10,000 agents, 7-10 full collections per broadcast, well over
half of the swarm's CPU, and more with each broadcast. In their place the
swarm collects fully, and freezes again, when no virtual agent has a job in
flight (:func:`collect_when_idle`), so cyclic garbage that did get old is
still freed.

Only cheap operations make sense here (``test.ping``, ``test.echo``): the
virtual agents run on the same host, so a ``command.*`` job would run N times
on it. The default allow-list is therefore the ``test.*`` family.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
from msgspec.structs import replace
from nats.aio.client import Client as NATS

from agent.cancels import listening
from agent.daemon import Agent
from agent.server import build_agent
from bus.connect import connect, install_signals
from common.config import AgentConfig
from common.signing import Verifier, load_verify_keys

log = structlog.get_logger("corral.swarm")
SWARM_ALLOW = ("test.ping", "test.echo", "test.sleep", "test.fail")
START_BATCH = 50  # consumers created at once: bounded so the JetStream API keeps up
IDLE_COLLECT_EVERY = 60.0  # seconds between looks for a moment to collect fully
NEVER = 2**30  # a generation-2 threshold no count of young collections reaches


def swarm_hostnames(prefix: str, count: int) -> list[str]:
    """``swarm-00000.local``, ...: zero-padded so they sort the way they were made."""
    width = max(5, len(str(count - 1)))
    return [f"{prefix}-{index:0{width}d}.local" for index in range(count)]


def build_swarm(
    nc: NATS, base: AgentConfig, hostnames: Sequence[str], verifier: Verifier
) -> list[Agent]:
    """N agents on one connection; each with the config ``base`` under its own name."""
    allow = base.allow or SWARM_ALLOW
    first = build_agent(_named(base, hostnames[0], allow), nc, verifier)
    agents = [first]
    for hostname in hostnames[1:]:
        agent = build_agent(_named(base, hostname, allow), nc, verifier, facts=first.facts)
        # One set of cancelled job ids for the process (agent/cancels.py).
        agent.runtime.cancelled = first.runtime.cancelled
        agents.append(agent)
    return agents


def _named(base: AgentConfig, hostname: str, allow: tuple[str, ...]) -> AgentConfig:
    # A journal directory is per host; virtual hosts do not keep one.
    return replace(base, hostname=hostname, allow=allow, journal_dir="")


async def run_swarm(agents: Sequence[Agent], stop: asyncio.Event) -> None:
    """Start every agent (in bounded batches), serve until ``stop``, then drain all."""
    if not agents:
        return
    async with listening(agents[0].nc, [agent.runtime for agent in agents]):
        with young_collections_only():
            await _serve(agents, stop)


@contextlib.contextmanager
def young_collections_only() -> Iterator[None]:
    """No automatic full collections in the block; the collector is as it was after.

    Undone on the way out because tests run swarms inside their own process.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def collect_when_idle(
    busy: Callable[[], bool], stop: asyncio.Event, every: float = IDLE_COLLECT_EVERY
) -> None:
    """Every ``every`` seconds, unless ``busy()``, collect fully and freeze what
    survives: the next full collection walks only what is new since."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if not stop.is_set() and not busy():
            gc.collect()
            gc.freeze()


def _jobs_in_flight(agents: Sequence[Agent]) -> Callable[[], bool]:
    return lambda: any(agent.inflight for agent in agents)


async def _serve(agents: Sequence[Agent], stop: asyncio.Event) -> None:
    async with asyncio.TaskGroup() as group:
        for start in range(0, len(agents), START_BATCH):
            batch = agents[start : start + START_BATCH]
            for agent in batch:
                group.create_task(agent.run(stop))
            if not await _all_ready(batch, stop):
                break
        else:
            # N agents' long-lived objects would otherwise be walked by every
            # full collection the per-job garbage triggers.
            gc.collect()
            gc.freeze()
            group.create_task(collect_when_idle(_jobs_in_flight(agents), stop))
            log.info("swarm_ready", agents=len(agents))


async def _all_ready(agents: Sequence[Agent], stop: asyncio.Event) -> bool:
    """Wait until every agent is ready; False if ``stop`` came first."""
    ready: asyncio.Future[Any] = asyncio.gather(*(agent.ready.wait() for agent in agents))
    stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for waiter in (ready, stopped):
        waiter.cancel()
    return not stop.is_set()


async def serve_swarm(base: AgentConfig, count: int, prefix: str) -> None:
    if not base.public_key:
        raise SystemExit("the swarm needs the controller's public key (--public-key)")
    verifier = Verifier(load_verify_keys(base.public_key))
    stop = asyncio.Event()
    install_signals(stop, "drain_requested")
    nc = await connect(base.nats_url, f"corral-swarm {prefix} x{count}")
    try:
        agents = build_swarm(nc, base, swarm_hostnames(prefix, count), verifier)
        await run_swarm(agents, stop)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
