"""The docker family through the whole system: submit -> agent -> fake Docker Engine -> detail.

One agent's host root holds the fake Engine's socket at /var/run/docker.sock;
another's holds nothing, so it answers ``skipped``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.controller.api.test_app import assert_error
from tests.fakes.docker_engine import FakeEngine, short_root
from tests.harness import Stack

DOCKER_HOST = "web-1.dev.local"
BARE_HOST = "bare-1.dev.local"
WEB = {
    "name": "web",
    "image": "nginx:1.25",
    "env": {"DB_PASSWORD": "s3cret"},
    "ports": [{"container_port": 80, "host_port": 8080}],
}


async def _job(stack: Stack, op: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"operation": {"type": op, "data": data}, "target": DOCKER_HOST, **extra}
    response = await stack.api.post("/job", json=body)
    assert response.status_code == 201, response.text
    detail = await stack.final(response.json()["job_id"])
    assert detail["status"] == "completed", detail
    return detail


async def test_docker_containers_and_images_through_the_whole_system(stack: Stack) -> None:
    with short_root() as root:
        engine = FakeEngine(root)
        engine.publish("nginx:1.25")
        async with engine.serving():
            await stack.start_agent(DOCKER_HOST, host_root=str(root))

            pulled = await _job(stack, "docker.image.pull", {"image": "nginx:1.25"})
            assert pulled["changed"] is True
            assert pulled["responses"][DOCKER_HOST]["data"]["id"].startswith("sha256:")

            first = await _job(stack, "docker.container.create", WEB)
            assert first["changed"] is True
            assert first["result"]["action"] == "created"
            assert first["operation"]["data"]["env"] == {"DB_PASSWORD": "[REDACTED]"}
            assert "s3cret" not in json.dumps(first)
            (container,) = engine.containers.values()
            assert "DB_PASSWORD=s3cret" in container.config["Env"]  # the agent got the value
            again = await _job(stack, "docker.container.create", WEB)
            assert (again["changed"], again["result"]["action"]) == (False, "unchanged")

            before = engine.mutations()
            dry = await _job(stack, "docker.container.start", {"container": "web"}, dry_run=True)
            assert dry["changed"] is True
            assert dry["result"]["diff"] == {"before": "created", "after": "running"}
            assert engine.mutations() == before
            assert not container.running

            bad = {"operation": {"type": "docker.container.stop", "data": {"container": ""}}}
            refused = await stack.api.post("/job", json={**bad, "target": DOCKER_HOST})
            assert_error(refused, 400)
            assert "operation.data.container" in refused.json()["details"]


async def test_a_host_without_docker_skips_while_the_others_answer(stack: Stack) -> None:
    with short_root() as root, short_root() as bare:
        engine = FakeEngine(root)
        async with engine.serving():
            await stack.start_agent(DOCKER_HOST, host_root=str(root))
            await stack.start_agent(BARE_HOST, host_root=str(bare))
            body = {"operation": {"type": "docker.container.list", "data": {"all": True}}}
            response = await stack.api.post("/job", json={**body, "target": "_all"})
            listed = await stack.final(response.json()["job_id"])
            assert listed["responses"][DOCKER_HOST]["data"] == {"containers": []}
            assert listed["agent_states"][BARE_HOST]["status"] == "skipped"
            assert listed["agent_states"][BARE_HOST]["error"] == (
                "no docker socket at /var/run/docker.sock"
            )
            assert listed["responses"][BARE_HOST]["status"] == "skipped"
            # Skipped counts as neither completed nor failed.
            assert listed["status"] == "completed"
