"""The agent process: configuration in, a running :class:`Agent` out. I/O: NATS, signals.

First SIGTERM/SIGINT drains (no new jobs; running jobs finish and report),
a second one exits at once.
"""

from __future__ import annotations

import asyncio
import os
import signal

import nats
import structlog
from nats.aio.client import Client as NATS

from agent.daemon import Agent
from agent.events import EventPublisher
from agent.executor import allowed_operations
from agent.facts import collect_facts
from agent.runtime import Runtime
from common.config import AgentConfig
from common.signing import Verifier, load_public

VERSION = "0.1.0"
log = structlog.get_logger("corral.agent")


async def connect(url: str, name: str) -> NATS:
    """Connect and keep reconnecting forever: agents run unattended for months."""
    return await nats.connect(
        url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=1.0, allow_reconnect=True
    )


def build_runtime(config: AgentConfig, nc: NATS, verifier: Verifier) -> Runtime:
    return Runtime(
        hostname=config.hostname,
        labels=dict(config.labels),
        allowed=allowed_operations(config.allow),
        verifier=verifier,
        publisher=EventPublisher(nc.jetstream(), config.hostname),
        max_output_bytes=config.max_output_bytes,
    )


def build_agent(config: AgentConfig, nc: NATS, verifier: Verifier) -> Agent:
    runtime = build_runtime(config, nc, verifier)
    facts = collect_facts(sorted(runtime.allowed), config.max_concurrency, VERSION)
    return Agent(
        nc,
        runtime,
        facts,
        max_concurrency=config.max_concurrency,
        heartbeat_interval=config.heartbeat_interval,
    )


def install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("forced_exit")
            os._exit(1)
        log.info("drain_requested")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)


async def serve(config: AgentConfig) -> None:
    if not config.public_key:
        raise SystemExit("the agent needs the controller's public key (--public-key)")
    verifier = Verifier(load_public(config.public_key))
    stop = asyncio.Event()
    install_signals(stop)
    nc = await connect(config.nats_url, f"corral-agent {config.hostname}")
    try:
        await build_agent(config, nc, verifier).run(stop)
    finally:
        await nc.close()
