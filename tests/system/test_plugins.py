"""A third-party operation family end to end: the example plugin the test set-up installs.

examples/corral-example declares ``example.greeting.get`` through the
``corral.operations`` entry point; the controller loads it at start, an
agent only when its allow-list names it (docs/plugins.md).
"""

from __future__ import annotations

from tests.controller.api.test_app import assert_error
from tests.harness import Stack


async def test_a_plugin_operation_is_listed_validated_and_run_by_an_agent(stack: Stack) -> None:
    await stack.start_agent("web-1.dev.local", allow=("example.*", "test.ping"))
    view = (await stack.api.get("/operation/example.greeting.get")).json()
    assert (view["family"], view["scope"]) == ("example", "example:read")
    assert view["params_schema"]["$defs"]["GreetingParams"]["required"] == ["name"]

    bad = {"operation": {"type": "example.greeting.get", "data": {"name": ""}}}
    refused = await stack.api.post("/job", json=bad)
    assert_error(refused, 400)
    assert refused.json()["details"].startswith("operation.data.name: Expected `str` of length")

    job_id = await stack.submit("example.greeting.get", {"name": "corral"}, "web-1.dev.local")
    detail = await stack.final(job_id)
    assert detail["status"] == "completed", detail
    assert detail["result"] == {"greeting": "hello, corral", "hostname": "web-1.dev.local"}
    assert detail["changed"] is False


async def test_an_agent_whose_allow_list_leaves_the_plugin_out_refuses_it(stack: Stack) -> None:
    await stack.start_agent("db-1.dev.local")  # the built-ins only
    job_id = await stack.submit("example.greeting.get", {"name": "x"}, "db-1.dev.local")
    detail = await stack.final(job_id)
    assert detail["status"] == "failed"
    assert detail["error"] == "operation example.greeting.get is not on this agent's allow-list"
    facts = (await stack.api.get("/agent/db-1.dev.local")).json()["facts"]
    assert "example.greeting.get" not in facts["operations"]
