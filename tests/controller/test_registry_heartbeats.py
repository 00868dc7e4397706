"""Heartbeats over a real nats-server: what registers an agent and what is rejected.

A heartbeat registers its agent only if its subject and body name the same
hostname and that hostname and the labels are whole names of the target
grammar; anything else is logged ``message_rejected`` and counted by reason.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from structlog.testing import capture_logs

from common import subjects
from common.messages import ENCODER, Heartbeat
from controller.registry import Registry
from controller.store.agents import AgentStore
from devstack.process import ServerProcess
from devstack.until import until
from tests.harness import Stack


@pytest.fixture
async def nc(nats_server: ServerProcess) -> AsyncIterator[NATS]:
    client = await nats.connect(nats_server.url)
    try:
        yield client
    finally:
        await client.close()


def beat(hostname: str, labels: dict[str, str] | None = None) -> bytes:
    return ENCODER.encode(
        Heartbeat(hostname=hostname, labels=labels or {}, sent_at=time.time(), interval=5.0)
    )


async def test_only_whole_names_on_their_own_subject_register(nc: NATS, agents: AgentStore) -> None:
    registry = Registry(agents, heartbeat_timeout=15.0)
    await registry.subscribe(nc)
    await nc.flush()
    sent = [
        (subjects.heartbeat_of("web-9\n"), beat("web-9\n")),
        (subjects.heartbeat_of("web-8"), beat("web-8", {"group": "web\n"})),
        (subjects.heartbeat_of("web-7"), beat("web-7", {"group\n": "web"})),
        (subjects.heartbeat_of("web-6"), beat("web-5")),
        ("corral.heartbeat.~ZZ", beat("web-4")),
        (subjects.heartbeat_of("web-3"), b"\xc1 not msgpack"),
    ]
    with capture_logs() as logs:
        for subject, data in sent:
            await nc.publish(subject, data)
        # Published after the others on one connection: delivered after them.
        await nc.publish(
            subjects.heartbeat_of("web-1.example"), beat("web-1.example", {"g": "a.b"})
        )
        await until(lambda: "web-1.example" in registry.agents, "the good heartbeat")

    assert list(registry.agents) == ["web-1.example"]
    assert registry.rejected == {
        "bad_hostname": 1,
        "bad_labels": 2,
        "wrong_agent": 1,
        "bad_subject": 1,
        "malformed": 1,
    }
    rejected = [line for line in logs if line["event"] == "message_rejected"]
    assert [line["subject"] for line in rejected] == [subject for subject, _ in sent]
    assert rejected[0]["reason"] == "hostname 'web-9\\n' is not a hostname"
    assert "label value 'web\\n'" in rejected[1]["reason"]
    assert "label key 'group\\n'" in rejected[2]["reason"]


async def test_a_name_stored_before_whole_matching_is_not_loaded_and_is_forgotten(
    agents: AgentStore,
) -> None:
    first = Registry(agents, heartbeat_timeout=15.0)
    first.observe(Heartbeat(hostname="web-9\n", sent_at=time.time(), interval=5.0), time.time())
    first.observe(Heartbeat(hostname="web-1", sent_at=time.time(), interval=5.0), time.time())
    await agents.save_agents(first.agents.values())

    restarted = Registry(agents, heartbeat_timeout=15.0)
    await restarted.load()
    assert list(restarted.agents) == ["web-1"]
    await restarted.forget_stored(time.time())
    assert [r.hostname for r in await agents.load_agents()] == ["web-1"]


async def test_an_agent_named_with_a_newline_is_never_a_target(stack: Stack) -> None:
    bus = await nats.connect(stack.nats_url)
    try:
        await bus.publish(subjects.heartbeat_of("web-9\n"), beat("web-9\n"))
        await bus.publish(subjects.heartbeat_of("web-9"), beat("web-9"))
        await until(lambda: stack.registered("web-9"), "web-9 registered")
    finally:
        await bus.close()
    listed = [a["hostname"] for a in (await stack.api.get("/agent")).json()["items"]]
    assert listed == ["web-9"]
    body = {"operation": {"type": "test.ping"}, "target": "web-9\n"}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["details"].startswith("target: 'web-9\\n' is not _any, _all, a hostname")
    assert (await stack.api.post("/job", json={**body, "target": "web-9"})).status_code == 201
