"""Draining an agent: out of rotation for maintenance, through the API, the bus and restarts."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.until import until
from tests.harness import Stack

pytestmark = pytest.mark.both_redis  # on a single redis-server and on a cluster

WEB1, WEB2, DB1 = "web-1.dev.local", "web-2.dev.local", "db-1.dev.local"


async def started(stack: Stack) -> None:
    await stack.start_agent(WEB1, {"group": "web"})
    await stack.start_agent(WEB2, {"group": "web"})
    await stack.start_agent(DB1, {"group": "db"})


async def drained_flag(stack: Stack, hostname: str, drained: bool) -> None:
    """Wait until the agent itself knows (the controller tells it over NATS)."""
    runtime = stack.agents[hostname].agent.runtime
    await until(lambda: runtime.drained is drained, f"{hostname} drained={drained}")


async def test_a_drained_agent_takes_no_new_work_until_undrained(stack: Stack) -> None:
    await started(stack)
    answer = await stack.api.post(f"/agent/{WEB1}/drain")
    assert answer.status_code == 200, answer.text
    assert answer.json()["drained"] is True
    await drained_flag(stack, WEB1, True)
    listing = (await stack.api.get("/agent")).json()["items"]
    assert {a["hostname"]: a["drained"] for a in listing} == {WEB1: True, WEB2: False, DB1: False}

    broadcast = await stack.final(await stack.submit("test.ping", target="_all"))
    assert broadcast["status"] == "completed"
    assert sorted(broadcast["agent_states"]) == [DB1, WEB2]
    submitted = broadcast["timeline"][0]
    assert submitted["message"] == f"job submitted for _all; left out, drained: {WEB1}"
    label = await stack.final(await stack.submit("test.ping", target="group:web"))
    assert sorted(label["agent_states"]) == [WEB2]

    refused = await stack.api.post(
        "/job", json={"operation": {"type": "test.ping"}, "target": WEB1}
    )
    assert refused.status_code == 409
    body: dict[str, Any] = refused.json()
    assert body["error"] == "Agent drained."
    assert f"agent {WEB1} is drained" in body["details"]

    anyone = [await stack.submit("test.ping") for _ in range(12)]
    runners = {(await stack.final(job))["hostname"] for job in anyone}
    assert WEB1 not in runners

    answer = await stack.api.post(f"/agent/{WEB1}/undrain")
    assert answer.json()["drained"] is False
    await drained_flag(stack, WEB1, False)
    by_name = await stack.final(await stack.submit("test.ping", target=WEB1))
    assert by_name["status"] == "completed"

    audited = (await stack.api.get("/audit", params={"target": WEB1})).json()["items"]
    assert {entry["route"] for entry in audited} >= {
        "/agent/{hostname}/drain",
        "/agent/{hostname}/undrain",
    }


async def test_an_agent_that_forgot_its_drain_is_told_again_by_its_heartbeat(
    stack: Stack,
) -> None:
    await started(stack)
    await stack.api.post(f"/agent/{DB1}/drain")
    await drained_flag(stack, DB1, True)
    stack.agents[DB1].agent.set_drained(False)  # as after a lost message or a wiped disk
    await drained_flag(stack, DB1, True)


async def test_a_broadcast_sent_before_the_drain_is_skipped_by_the_drained_agent(
    stack: Stack,
) -> None:
    await started(stack)
    stack.agents[WEB2].agent.set_drained(True)  # the drain reached it before this job did
    detail = await stack.final(await stack.submit("test.ping", target="_all"))
    assert detail["status"] == "completed"
    assert detail["agent_states"][WEB2]["status"] == "skipped"
    assert detail["agent_states"][WEB2]["error"] == "agent is drained"


async def test_draining_an_unknown_agent_is_404(stack: Stack) -> None:
    answer = await stack.api.post("/agent/nobody.dev.local/drain")
    assert answer.status_code == 404
    assert answer.json()["error"] == "Agent not found."
