"""The agent registry: who is out there, fed by heartbeats. I/O: NATS and Redis.

Every controller replica subscribes to all heartbeats and keeps the registry
in memory, so resolving a target at submit costs no round trip; Redis holds
a copy (flushed once a second, one HSET for all changes) for restarts and for
replicas that just started. An agent is ``online`` while its last heartbeat
is younger than ``heartbeat_timeout``.

An agent silent for ``forget_after`` (a week by default) is forgotten, in
memory and in Redis: a decommissioned host leaves ``GET /agent`` on its own.
Every replica decides from the same ``last_seen``, so they agree without
telling each other; an agent that comes back registers again with its next
heartbeat.

Drained agents (controller/drains.py) stay in the registry but out of
every expected set and of ``_any``'s live agents; the drained set is
re-read from Redis with each flush, so every replica sees a drain within a
second. A heartbeat that shows an agent believing otherwise is handed to
``on_mismatch``, which tells the agent again.

A heartbeat is rejected (logged ``message_rejected``, counted in
``rejected`` by reason) unless it decodes, its subject names a hostname, its
body names the same one, and that hostname and its labels are whole names
of the target grammar (common/targets.py): an agent no job could address
never registers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from common import subjects
from common.messages import HEARTBEAT_DECODER, Heartbeat
from common.targets import Target, TargetError, check_labels, is_hostname, resolve_expected
from controller.store.agents import AgentRecord, AgentStore

log = structlog.get_logger("corral.registry")
# Looking for silent agents walks the whole registry: once a minute is plenty
# for a limit counted in days.
FORGET_EVERY = 60.0


class Rejected(ValueError):
    """A heartbeat not admitted: ``reason`` is the counter's key, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def admit(subject: str, data: bytes) -> Heartbeat:
    """The heartbeat in ``data`` sent on ``subject``, or :class:`Rejected` saying why."""
    try:
        beat = HEARTBEAT_DECODER.decode(data)
    except Exception as exc:  # noqa: BLE001 - anything undecodable is rejected
        raise Rejected("malformed", str(exc)[:200]) from None
    try:
        sender = subjects.hostname_of_subject(subject)
    except ValueError as exc:
        raise Rejected("bad_subject", str(exc)) from None
    if sender != beat.hostname:
        raise Rejected("wrong_agent", "hostname mismatch")
    if not is_hostname(beat.hostname):
        raise Rejected("bad_hostname", f"hostname {beat.hostname[:253]!r} is not a hostname")
    try:
        check_labels(beat.labels)
    except TargetError as exc:
        raise Rejected("bad_labels", str(exc)[:200]) from None
    return beat


class Registry:
    def __init__(
        self, stored: AgentStore, heartbeat_timeout: float, forget_after: float = 7 * 24 * 3600.0
    ) -> None:
        self.stored = stored
        self.heartbeat_timeout = heartbeat_timeout
        self.forget_after = forget_after
        self.agents: dict[str, AgentRecord] = {}
        self._dirty: dict[str, AgentRecord] = {}
        self._changed = asyncio.Event()
        self._unsaved_forgets: set[str] = set()
        self._next_forget = 0.0
        self.rejected: Counter[str] = Counter()
        self.drained: dict[str, float] = {}  # hostname -> since
        self.on_mismatch: Callable[[str, bool], None] | None = None

    async def load(self) -> None:
        self.drained = await self.stored.load_drained()
        for record in await self.stored.load_agents():
            if is_hostname(record.hostname):
                self.agents.setdefault(record.hostname, record)
            else:  # stored before names were matched whole: forgotten, not loaded
                self._unsaved_forgets.add(record.hostname)

    def is_online(self, record: AgentRecord, now: float) -> bool:
        return record.state == "online" and now - record.last_seen <= self.heartbeat_timeout

    def state_of(self, record: AgentRecord, now: float) -> str:
        return "online" if self.is_online(record, now) else "offline"

    def live(self, now: float) -> list[AgentRecord]:
        return [r for r in self.agents.values() if self.is_online(r, now)]

    def available(self, now: float) -> list[AgentRecord]:
        """Live agents that take new work: not drained."""
        return [r for r in self.live(now) if r.hostname not in self.drained]

    def expected_for(self, target: Target, now: float) -> list[str]:
        return resolve_expected(target, ((r.hostname, r.labels) for r in self.available(now)))

    def drained_for(self, target: Target, now: float) -> list[str]:
        """Live agents ``target`` matches that are left out because they are drained."""
        drained = [r for r in self.live(now) if r.hostname in self.drained]
        return resolve_expected(target, ((r.hostname, r.labels) for r in drained))

    def forget_silent(self, now: float) -> list[str]:
        """Drop agents silent for longer than ``forget_after``; their names."""
        gone = [h for h, r in self.agents.items() if now - r.last_seen > self.forget_after]
        for hostname in gone:
            del self.agents[hostname]
            self._dirty.pop(hostname, None)
            log.info("agent_forgotten", hostname=hostname, silent_for=self.forget_after)
        return gone

    async def forget_stored(self, now: float) -> None:
        """Forget silent agents here and in Redis (retried next time on error)."""
        gone = self.forget_silent(now)
        self._unsaved_forgets.update(gone)
        if self._unsaved_forgets:
            await self.stored.forget_agents(self._unsaved_forgets)
            self._unsaved_forgets.clear()

    def observe(self, beat: Heartbeat, now: float) -> None:
        previous = self.agents.get(beat.hostname)
        record = AgentRecord(
            hostname=beat.hostname,
            labels=beat.labels,
            facts=beat.facts,
            last_seen=now,
            first_seen=previous.first_seen if previous else now,
            state=beat.state,
            running=beat.running,
            refusals=beat.refusals,
        )
        if previous is None or previous.state != beat.state:
            log.info("agent_seen", hostname=beat.hostname, state=beat.state)
        self.agents[beat.hostname] = record
        self._dirty[beat.hostname] = record
        mistaken = beat.drained != (beat.hostname in self.drained)
        if beat.state == "online" and mistaken and self.on_mismatch is not None:
            self.on_mismatch(beat.hostname, beat.drained)
        self._unsaved_forgets.discard(beat.hostname)
        self._changed.set()

    async def on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = admit(msg.subject, msg.data)
        except Rejected as exc:
            self.rejected[exc.reason] += 1
            log.warning("message_rejected", subject=msg.subject, reason=str(exc))
            return
        self.observe(beat, time.time())

    async def subscribe(self, nc: NATS) -> None:
        await nc.subscribe(subjects.HEARTBEATS, cb=self.on_heartbeat)

    async def flush_until(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Write changed agents to Redis, batched; keeps trying while Redis is down.

        Once ``stop`` is set, what changed since the last write is written too:
        a controller restarted at once knows every agent this one knew, rather
        than waiting for their next heartbeats.
        """
        try:
            await self._flush_while(stop, interval)
        finally:
            if self._dirty:
                pending, self._dirty = self._dirty, {}
                try:
                    await self.stored.save_agents(pending.values())
                except Exception as exc:  # noqa: BLE001 - stopping: the next heartbeats tell
                    log.warning("registry_flush_failed", error=str(exc))

    async def _flush_while(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                if time.monotonic() >= self._next_forget:
                    self._next_forget = time.monotonic() + FORGET_EVERY
                    await self.forget_stored(time.time())
            except Exception as exc:  # noqa: BLE001 - keep the registry alive; retry later
                log.warning("registry_forget_failed", error=str(exc))
            try:
                self.drained = await self.stored.load_drained()
            except Exception as exc:  # noqa: BLE001 - keep the registry alive; retry later
                log.warning("registry_drained_read_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), interval)
            if not self._changed.is_set():
                continue
            self._changed.clear()
            pending, self._dirty = self._dirty, {}
            try:
                await self.stored.save_agents(pending.values())
            except Exception as exc:  # noqa: BLE001 - keep the registry alive; retry later
                log.warning("registry_flush_failed", error=str(exc))
                self._dirty = {**pending, **self._dirty}
                self._changed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
