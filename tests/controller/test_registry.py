"""The agent registry against a real redis-server: forgetting silent agents, refusals."""

from __future__ import annotations

import asyncio
import time

import pytest

from common.config import ConfigError, load_controller
from common.messages import Heartbeat
from controller.api.views import agent_view
from controller.registry import Registry
from controller.store.agents import AgentStore
from devstack.until import until

WEEK = 7 * 24 * 3600.0


def beat(hostname: str, **fields: object) -> Heartbeat:
    return Heartbeat(hostname=hostname, sent_at=time.time(), interval=5.0, **fields)  # type: ignore[arg-type]


async def test_an_agent_silent_past_forget_after_leaves_memory_and_redis(
    agents: AgentStore,
) -> None:
    now = time.time()
    registry = Registry(agents, heartbeat_timeout=15.0, forget_after=WEEK)
    registry.observe(beat("old.example"), now - WEEK - 60)
    registry.observe(beat("recent.example", state="offline"), now - WEEK + 60)
    registry.observe(beat("live.example"), now)
    await agents.save_agents(registry.agents.values())

    await registry.forget_stored(now)

    assert sorted(registry.agents) == ["live.example", "recent.example"]
    stored = sorted(r.hostname for r in await agents.load_agents())
    assert stored == ["live.example", "recent.example"]
    # A replica starting now does not bring the forgotten agent back.
    fresh = Registry(agents, heartbeat_timeout=15.0, forget_after=WEEK)
    await fresh.load()
    assert "old.example" not in fresh.agents


async def test_a_forgotten_agent_that_comes_back_registers_again(agents: AgentStore) -> None:
    now = time.time()
    registry = Registry(agents, heartbeat_timeout=15.0, forget_after=WEEK)
    registry.observe(beat("back.example"), now - 2 * WEEK)
    assert registry.forget_silent(now) == ["back.example"]
    registry.observe(beat("back.example"), now)
    await agents.save_agents(registry.agents.values())
    await registry.forget_stored(now)
    assert [r.hostname for r in await agents.load_agents()] == ["back.example"]
    assert registry.state_of(registry.agents["back.example"], now) == "online"


def test_refusals_from_the_heartbeat_are_shown_in_the_agent_view(agents: AgentStore) -> None:
    registry = Registry(agents, heartbeat_timeout=15.0)
    registry.observe(beat("web.example", refusals={"bad_signature": 2}), time.time())
    view = agent_view(registry.agents["web.example"], "online", drained=False)
    assert view.refusals == {"bad_signature": 2}


def test_forget_after_must_exceed_the_heartbeat_timeout() -> None:
    env = {"CORRAL_FORGET_AGENTS_AFTER": "10", "CORRAL_HEARTBEAT_TIMEOUT": "15"}
    with pytest.raises(ConfigError, match="forget_agents_after"):
        load_controller(env)
    assert load_controller({"CORRAL_FORGET_AGENTS_AFTER": "3600"}).forget_agents_after == 3600.0


async def test_the_drained_set_survives_a_restart_and_leaves_expected_sets(
    agents: AgentStore,
) -> None:
    from common.targets import parse_target

    now = time.time()
    await agents.set_drained("web-1.example", True, now)
    registry = Registry(agents, heartbeat_timeout=15.0)
    await registry.load()
    registry.observe(beat("web-1.example", labels={"group": "web"}), now)
    registry.observe(beat("web-2.example", labels={"group": "web"}), now)
    assert registry.expected_for(parse_target("group:web"), now) == ["web-2.example"]
    assert registry.drained_for(parse_target("_all"), now) == ["web-1.example"]
    await agents.set_drained("web-1.example", False, now)
    assert await agents.load_drained() == {}


async def test_what_changed_just_before_a_stop_is_written(agents: AgentStore) -> None:
    registry = Registry(agents, heartbeat_timeout=15.0)
    stop = asyncio.Event()
    flushing = asyncio.create_task(registry.flush_until(stop, interval=3600.0))
    registry.observe(beat("first.example"), time.time())

    async def first_written() -> bool:
        return [r.hostname for r in await agents.load_agents()] == ["first.example"]

    await until(first_written, "the first write")
    # Seen while the flusher waits out its interval: only the stop writes it.
    registry.observe(beat("late.example"), time.time())
    stop.set()
    await flushing
    stored = sorted(r.hostname for r in await agents.load_agents())
    assert stored == ["first.example", "late.example"]
