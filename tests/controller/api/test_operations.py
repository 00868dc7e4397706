"""``GET /operation`` and ``GET /operation/{name}`` against the real app.

Tests controller/api/operations.py.
"""

from __future__ import annotations

import msgspec

from common.operations.catalog import BUILTIN, OPERATIONS
from tests.controller.api.test_app import assert_error
from tests.harness import READER_KEY, Stack

FIELDS = {
    *("name", "family", "kind", "scope", "summary", "description", "platforms", "example"),
    *("dry_run", "opt_in", "params_schema", "result_schema"),
}


async def test_the_catalog_lists_every_operation_with_its_schemas(stack: Stack) -> None:
    response = await stack.api.get("/operation", headers={"Authorization": f"Bearer {READER_KEY}"})
    assert response.status_code == 200, response.text
    listing = response.json()
    names = [item["name"] for item in listing["items"]]
    assert names == sorted(OPERATIONS)
    assert set(BUILTIN) <= set(names)
    assert "example.greeting.get" in names  # the installed plugin, loaded at start
    assert listing["total_items"] == len(names)
    for item in listing["items"]:
        assert set(item) == FIELDS
        spec = OPERATIONS[item["name"]]
        assert item["params_schema"] == msgspec.json.schema(spec.params)
        assert item["result_schema"] == msgspec.json.schema(spec.result)
        assert item["scope"] == spec.scope


async def test_one_operation_is_described_from_its_declaration(stack: Stack) -> None:
    response = await stack.api.get("/operation/command.exec")
    assert response.status_code == 200, response.text
    view = response.json()
    assert {k: view[k] for k in ("name", "family", "kind", "scope", "dry_run", "opt_in")} == {
        "name": "command.exec",
        "family": "command",
        "kind": "mutate",
        "scope": "command:write",
        "dry_run": True,
        "opt_in": False,
    }
    assert view["example"] == {"argv": ["uname", "-a"], "timeout": 10}
    params = view["params_schema"]["$defs"]["ExecParams"]
    assert params["required"] == ["argv"]
    assert params["additionalProperties"] is False
    assert params["properties"]["argv"]["description"] == "The program and its arguments."
    assert "would_run" in view["result_schema"]["$defs"]["ExecResult"]["properties"]


async def test_an_unknown_operation_is_404_json(stack: Stack) -> None:
    response = await stack.api.get("/operation/node.reboot")
    assert_error(response, 404, "Operation not found.")
    assert response.json()["details"] == "no operation named 'node.reboot'"


async def test_the_catalog_needs_a_key_with_job_read(stack: Stack) -> None:
    assert_error(await stack.api.get("/operation", headers={"Authorization": ""}), 401)
