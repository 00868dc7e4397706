"""``GET /openapi.json``: valid OpenAPI 3.1, one endpoint per route, and what the API answers."""

from __future__ import annotations

import msgspec
from openapi_spec_validator import validate
from starlette.routing import Route

from controller.api.app import ROUTES
from controller.api.openapi import ENDPOINTS, document
from tests.harness import Stack


def test_the_document_is_valid_openapi_3_1() -> None:
    described = document()
    assert described["openapi"] == "3.1.0"
    validate(msgspec.json.decode(msgspec.json.encode(described)))


def test_every_route_is_described_and_nothing_else() -> None:
    routes = {
        (method, route.path)
        for route in ROUTES
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD" and not route.path.startswith("/ui")  # the console's pages
    }
    described = {(e.method, e.path) for e in ENDPOINTS}
    assert routes - described == set(), "routes without an endpoint in controller/api/openapi.py"
    assert described - routes == set(), "endpoints without a route"


def test_each_described_answer_names_its_scope_and_errors() -> None:
    paths = document()["paths"]
    cancel = paths["/job/{job_id}/cancel"]["post"]
    assert cancel["x-scope"] == "job:write"
    assert set(cancel["responses"]) >= {"202", "401", "403", "404", "409", "503"}
    assert paths["/health"]["get"]["security"] == []


async def test_the_controller_serves_it_without_a_key(stack: Stack) -> None:
    response = await stack.api.get("/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == msgspec.json.decode(msgspec.json.encode(document()))
