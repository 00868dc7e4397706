"""An agent's drain state: told by a controller, kept across restarts. I/O: NATS, a file.

A controller sends a signed :class:`~common.messages.DrainRequest` on
``corral.control.drain.<host>`` when an operator drains or undrains the
host, and again whenever a heartbeat shows the agent believes otherwise
(controller/registry.py), so a lost message is corrected within a heartbeat.
The state is also kept in a marker file beside the journal, so an agent
restarted while drained comes back drained before it pulls anything.

Drained, the agent finishes what it runs, stops pulling from the shared
``_any`` consumer, and answers ``skipped`` ("agent is drained") to broadcast
and label jobs; a job addressed to it by name still runs (the controller
refuses new ones with a 409).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from nats.aio.msg import Msg

from agent.daemon import Agent
from common import subjects

log = structlog.get_logger("corral.agent")


def marker_of(journal_path: str) -> Path | None:
    """Where the drain marker lives: beside the journal file (None: an in-memory journal)."""
    return Path(f"{journal_path}.drained") if journal_path else None


def load(agent: Agent) -> None:
    """Start drained if the marker says so."""
    marker = marker_of(agent.runtime.journal.path)
    agent.set_drained(marker is not None and marker.exists())


def apply(agent: Agent, drained: bool) -> None:
    """Take the state a controller sent; keep it for the next start."""
    if drained != agent.runtime.drained:
        log.info("agent_drained" if drained else "agent_undrained", hostname=agent.hostname)
    marker = marker_of(agent.runtime.journal.path)
    if marker is not None:
        if drained:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
    agent.set_drained(drained)


@contextlib.asynccontextmanager
async def listening(agent: Agent) -> AsyncIterator[None]:
    """Drain requests for ``agent`` are taken while the block runs."""
    load(agent)

    async def on_message(msg: Msg) -> None:
        drained = agent.runtime.drain_request(msg.data)
        if drained is not None:
            apply(agent, drained)

    subscription = await agent.nc.subscribe(subjects.drain_of(agent.hostname), cb=on_message)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
