"""``GET /operation`` and ``GET /operation/{name}``: the operation catalog. Pure but for HTTP.

Everything comes from the declarations (common/operations/): names, kind,
scope, documentation, example, platforms, and the JSON Schemas of params
and result from msgspec, so a client can build a form for any operation,
a plugin's included, from one call. Scope ``job:read``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.api import OperationList, OperationView
from common.errors import NotFound
from common.operations.catalog import OPERATIONS
from common.operations.declaration import Declaration

_JSON = msgspec.json.Encoder()


@functools.cache
def operation_view(declaration: Declaration) -> OperationView:
    """One operation as the API shows it (computed once per declaration)."""
    return OperationView(
        name=declaration.name,
        family=declaration.family,
        kind=declaration.kind,
        scope=declaration.scope,
        summary=declaration.summary,
        description=declaration.description,
        platforms=list(declaration.platforms),
        example=dict(declaration.example),
        dry_run=declaration.dry_runnable,
        opt_in=declaration.opt_in,
        params_schema=msgspec.json.schema(declaration.params),
        result_schema=msgspec.json.schema(declaration.result),
    )


def catalog() -> OperationList:
    items = [operation_view(OPERATIONS[name]) for name in sorted(OPERATIONS)]
    return OperationList(total_items=len(items), items=items)


def _json(body: Any) -> Response:
    return Response(_JSON.encode(body), media_type="application/json")


def operation_routes(authorize: Callable[[Request, str], object]) -> list[Route]:
    """The two routes, checking the caller's key with the app's ``authorize``."""

    async def list_operations(request: Request) -> Response:
        authorize(request, "job:read")
        return _json(catalog())

    async def get_operation(request: Request) -> Response:
        authorize(request, "job:read")
        name = request.path_params["name"]
        declaration = OPERATIONS.get(name)
        if declaration is None:
            raise NotFound(f"no operation named {name[:200]!r}", title="Operation not found.")
        return _json(operation_view(declaration))

    return [
        Route("/operation", list_operations, methods=["GET"]),
        Route("/operation/{name}", get_operation, methods=["GET"]),
    ]
