"""The agent process: configuration in, a running :class:`Agent` out. I/O: NATS, signals.

First SIGTERM/SIGINT drains (no new jobs; running jobs finish and report),
a second one exits at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

import structlog
from msgspec.structs import replace
from nats.aio.client import Client as NATS

from agent import drain, metrics
from agent.cancels import listening
from agent.claims import Claims
from agent.daemon import Agent
from agent.events import EventPublisher
from agent.executor import allowed_operations
from agent.facts import collect_facts
from agent.journal import Journal, journal_file
from agent.objects import BucketObjects
from agent.operations.host import Host
from agent.runtime import Runtime
from bus.connect import connect, install_signals
from common import subjects
from common.config import AgentConfig
from common.messages import Facts
from common.signing import Verifier, load_verify_keys

VERSION = "0.1.0"
log = structlog.get_logger("corral.agent")


def default_journal_dir(environ: Mapping[str, str]) -> str:
    """Where a journal lives when none is configured: systemd's state directory,
    ``/var/lib/corral`` for root, else the XDG state directory."""
    if environ.get("STATE_DIRECTORY"):
        return str(Path(environ["STATE_DIRECTORY"].split(":")[0]) / "journal")
    if os.geteuid() == 0:
        return "/var/lib/corral/journal"
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "corral" / "journal")


def build_runtime(config: AgentConfig, nc: NATS, verifier: Verifier) -> Runtime:
    """The agent's pipeline; an empty ``journal_dir`` gives an in-memory journal."""
    journal = Journal(
        journal_file(config.journal_dir, config.hostname),
        retention=config.journal_retention,
        max_entries=config.journal_max_entries,
    )
    return Runtime(
        hostname=config.hostname,
        labels=dict(config.labels),
        allowed=allowed_operations(config.allow),
        verifier=verifier,
        publisher=EventPublisher(nc, config.hostname),
        claims=Claims(nc.jetstream(), config.hostname),
        journal=journal,
        max_output_bytes=config.max_output_bytes,
        host=Host(Path(config.host_root), config.host_path or os.environ.get("PATH", os.defpath)),
        objects=BucketObjects(nc.jetstream()),
        max_deliveries=config.max_deliveries,
        skew_tolerance=config.clock_skew_tolerance,
    )


def build_agent(
    config: AgentConfig, nc: NATS, verifier: Verifier, *, facts: Facts | None = None
) -> Agent:
    """An agent from its config; ``facts`` if they were collected already (a swarm's)."""
    runtime = build_runtime(config, nc, verifier)
    facts = facts or collect_facts(sorted(runtime.allowed), config.max_concurrency, VERSION)
    return Agent(
        nc,
        runtime,
        facts,
        max_concurrency=config.max_concurrency,
        heartbeat_interval=config.heartbeat_interval,
        max_deliveries=config.max_deliveries,
        ack_wait=config.ack_wait,
    )


async def run_with_cancels(agent: Agent, stop: asyncio.Event) -> None:
    """One agent with its cancel subscription, until ``stop``: an agent process's work."""
    async with listening(agent.nc, [agent.runtime]), drain.listening(agent):
        await agent.run(stop)


async def serve(config: AgentConfig) -> None:
    if not config.public_key:
        raise SystemExit("the agent needs the controller's public key (--public-key)")
    verifier = Verifier(load_verify_keys(config.public_key))
    if not config.journal_dir:
        config = replace(config, journal_dir=default_journal_dir(os.environ))
    stop = asyncio.Event()
    install_signals(stop, "drain_requested")
    nc = await connect(
        config.nats_url,
        f"corral-agent {config.hostname}",
        inbox_prefix=subjects.inbox_prefix(config.hostname),
    )
    agent = build_agent(config, nc, verifier)
    log.info("agent_journal", path=agent.runtime.journal.path)
    try:
        async with metrics.serving(agent.runtime, config.metrics_port):
            await run_with_cancels(agent, stop)
    finally:
        await nc.close()
        agent.runtime.journal.close()
