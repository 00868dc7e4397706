"""The agent registry's copy in Redis (``corral:agents``). I/O: Redis only.

Each controller keeps the registry in memory (controller/registry.py) and
flushes it here, for restarts and new replicas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from common import messages
from common.messages import ENCODER
from controller.store.redis import RedisClient, as_text

AGENTS = "corral:agents"
# Drained agents: hostname -> when it was drained. Kept apart from the
# records, which heartbeats rewrite, and never forgotten with them.
DRAINED = "corral:drained"


class AgentRecord(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    labels: dict[str, str]
    facts: messages.Facts
    last_seen: float
    first_seen: float
    state: str = "online"
    running: int = 0
    refusals: dict[str, int] = msgspec.field(default_factory=dict)


AGENT_DECODER = msgspec.msgpack.Decoder(AgentRecord)


class AgentStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def save_agents(self, records: Iterable[AgentRecord]) -> None:
        mapping: dict[Any, Any] = {r.hostname: ENCODER.encode(r) for r in records}
        if mapping:
            await self.redis.hset(AGENTS, mapping=mapping)

    async def forget_agents(self, hostnames: Iterable[str]) -> None:
        names = list(hostnames)
        if names:
            await self.redis.hdel(AGENTS, *names)

    async def set_drained(self, hostname: str, drained: bool, at: float) -> None:
        if drained:
            await self.redis.hsetnx(DRAINED, hostname, repr(at))
        else:
            await self.redis.hdel(DRAINED, hostname)

    async def is_drained(self, hostname: str) -> bool:
        return bool(await self.redis.hexists(DRAINED, hostname))

    async def load_drained(self) -> dict[str, float]:
        stored = await self.redis.hgetall(DRAINED)
        return {as_text(host): float(as_text(at)) for host, at in stored.items()}

    async def load_agents(self) -> list[AgentRecord]:
        blobs = await self.redis.hvals(AGENTS)
        return [AGENT_DECODER.decode(b.encode() if isinstance(b, str) else b) for b in blobs]
