"""Draining agents: take a host out of rotation for maintenance. I/O: Redis, NATS.

The state lives in Redis (controller/store/agents.py, ``corral:drained``),
so it survives controller restarts and every replica sees it. The agent is
told with a signed :class:`~common.messages.DrainRequest` on its own drain
subject; told again whenever a heartbeat shows it believes otherwise (after
a lost message, a restart, a drain made by another replica), once the
state has been read back from Redis, so two replicas never disagree with
the agent in turn. What the agent does drained: agent/drain.py.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from nats.aio.client import Client as NATS

from common import subjects
from common.errors import NotFound
from common.messages import ENCODER, DrainRequest
from common.signing import Signer
from controller.registry import Registry

log = structlog.get_logger("corral.drains")


class Drains:
    def __init__(self, registry: Registry, nc: NATS, signer: Signer) -> None:
        self.registry = registry
        self.nc = nc
        self.signer = signer
        self._telling: set[asyncio.Task[None]] = set()
        registry.on_mismatch = self._heard_mismatch

    async def set(self, hostname: str, drained: bool) -> None:
        """Drain or undrain a registered agent (404 otherwise); idempotent."""
        if hostname not in self.registry.agents:
            raise NotFound(f"no agent named {hostname[:253]!r}", title="Agent not found.")
        now = time.time()
        await self.registry.stored.set_drained(hostname, drained, now)
        if drained:
            self.registry.drained.setdefault(hostname, now)
        else:
            self.registry.drained.pop(hostname, None)
        log.info("agent_drain_set", hostname=hostname, drained=drained)
        await self.tell(hostname, drained)

    async def tell(self, hostname: str, drained: bool) -> None:
        request = DrainRequest(hostname=hostname, drained=drained, requested_at=time.time())
        signed = self.signer.sign(ENCODER.encode(request))
        await self.nc.publish(subjects.drain_of(hostname), ENCODER.encode(signed))

    def _heard_mismatch(self, hostname: str, believes: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._correct(hostname, believes))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _correct(self, hostname: str, believes: bool) -> None:
        try:
            drained = await self.registry.stored.is_drained(hostname)
            if drained != believes:
                await self.tell(hostname, drained)
        except Exception as exc:  # noqa: BLE001 - the next heartbeat tries again
            log.warning("agent_drain_tell_failed", hostname=hostname, error=str(exc))
