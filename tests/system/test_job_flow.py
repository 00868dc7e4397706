"""The whole path of a job, against real nats-server and redis-server."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.harness import Stack

pytestmark = pytest.mark.both_redis  # on a single redis-server and on a cluster

WEB = {"group": "web.dev"}
DB = {"group": "db.dev"}


async def three_agents(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB)
    await stack.start_agent("web-2.dev.local", WEB)
    await stack.start_agent("db-1.dev.local", DB)


async def test_single_host_job_completes_with_result_and_timeline(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB)
    job_id = await stack.submit(
        "test.echo", {"data": {"hello": "corral"}}, target="web-1.dev.local"
    )
    detail = await stack.final(job_id)
    assert detail["status"] == "completed"
    assert detail["result"] == {"hello": "corral"}
    assert detail["hostname"] == "web-1.dev.local"
    assert detail["changed"] is False
    assert detail["error"] is None
    assert detail["operation"] == {"type": "test.echo", "data": {"data": {"hello": "corral"}}}
    events = [entry["event"] for entry in detail["timeline"]]
    assert events == ["submitted", "acknowledged", "started", "completed"]
    stamps = [entry["timestamp"] for entry in detail["timeline"]]
    assert stamps == sorted(stamps)


async def test_any_runs_each_job_exactly_once_across_agents(stack: Stack) -> None:
    await three_agents(stack)
    job_ids = await asyncio.gather(
        *(stack.submit("test.sleep", {"seconds": 0.05}) for _ in range(30))
    )
    details = [await stack.final(job_id) for job_id in job_ids]
    assert all(d["status"] == "completed" for d in details)
    runners = Counter(d["hostname"] for d in details)
    assert sum(runners.values()) == 30
    assert len(runners) > 1, runners
    for detail in details:
        assert len(detail["agent_states"]) == 1
        (state,) = detail["agent_states"].values()
        assert state["attempt"] == 1
    assert sum(r.agent.runtime.completed for r in stack.agents.values()) == 30


async def test_broadcast_reports_every_agent_field_by_field(stack: Stack) -> None:
    await three_agents(stack)
    job_id = await stack.submit("node.hostname.get", target="_all")
    detail = await stack.final(job_id)
    hosts = {"web-1.dev.local", "web-2.dev.local", "db-1.dev.local"}
    assert detail["status"] == "completed"
    assert detail["result"] is None
    assert detail["hostname"] is None
    assert detail["changed"] is False
    assert set(detail["responses"]) == hosts
    for host in hosts:
        response = detail["responses"][host]
        assert response["status"] == "completed"
        assert response["hostname"] == host
        assert response["data"]["hostname"] == host
        assert response["changed"] is False
        assert response["error"] is None
        state = detail["agent_states"][host]
        assert state["status"] == "completed"
        assert state["attempt"] == 1
        assert state["error"] is None
        assert state["duration"] >= 0
        assert state["acknowledged_at"] <= state["started_at"] <= state["finished_at"]
    per_host = Counter((e["hostname"], e["event"]) for e in detail["timeline"])
    for host in hosts:
        for kind in ("acknowledged", "started", "completed"):
            assert per_host[(host, kind)] == 1
    assert detail["timeline"][0]["event"] == "submitted"


async def test_label_target_reaches_only_matching_agents(stack: Stack) -> None:
    await three_agents(stack)
    detail = await stack.final(await stack.submit("test.ping", target="group:web"))
    assert detail["status"] == "completed"
    assert set(detail["agent_states"]) == {"web-1.dev.local", "web-2.dev.local"}
    detail = await stack.final(await stack.submit("test.ping", target="group:db.dev"))
    assert set(detail["responses"]) == {"db-1.dev.local"}


async def test_crashed_agent_ends_timeout_and_job_partial_failure(stack: Stack) -> None:
    await three_agents(stack)
    await stack.agents["db-1.dev.local"].crash()
    job_id = await stack.submit("test.ping", target="_all", job_timeout=2)
    detail = await stack.final(job_id)
    assert detail["status"] == "partial_failure"
    assert detail["agent_states"]["db-1.dev.local"]["status"] == "timeout"
    assert detail["agent_states"]["web-1.dev.local"]["status"] == "completed"
    assert "db-1.dev.local" not in detail["responses"]
    assert "1 of 3 agents did not complete" in detail["error"]
    assert ("timeout", "db-1.dev.local") in {
        (e["event"], e["hostname"]) for e in detail["timeline"]
    }


async def test_failing_operation_fails_the_job_with_its_error(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB)
    detail = await stack.final(
        await stack.submit("test.fail", {"message": "disk on fire"}, target="web-1.dev.local")
    )
    assert detail["status"] == "failed"
    assert detail["error"] == "disk on fire"
    assert detail["changed"] is None
    assert detail["responses"]["web-1.dev.local"]["status"] == "failed"


async def test_changed_is_true_only_when_an_operation_changed_state(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB)
    await stack.start_agent("web-2.dev.local", WEB)
    detail = await stack.final(
        await stack.submit("command.exec", {"argv": ["true"]}, target="_all")
    )
    assert detail["status"] == "completed"
    assert detail["changed"] is True
    detail = await stack.final(await stack.submit("node.uptime.get", target="_all"))
    assert detail["changed"] is False


async def test_agent_refuses_an_operation_off_its_allow_list(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB, allow=("test.ping",))
    detail = await stack.final(
        await stack.submit("command.exec", {"argv": ["id"]}, target="web-1.dev.local")
    )
    assert detail["status"] == "failed"
    assert "allow-list" in detail["error"]
    ok = await stack.final(await stack.submit("test.ping", target="web-1.dev.local"))
    assert ok["status"] == "completed"


async def test_host_target_waits_for_a_briefly_offline_agent(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", WEB)
    await stack.agents.pop("web-1.dev.local").crash()
    job_id = await stack.submit("test.ping", target="web-1.dev.local", job_timeout=30)
    assert (await stack.detail(job_id))["status"] == "submitted"
    await stack.start_agent("web-1.dev.local", WEB)
    detail = await stack.final(job_id)
    assert detail["status"] == "completed"
