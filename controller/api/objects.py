"""``/object``: upload, list, read and delete deploy content. I/O: NATS (the object store).

Objects live in the JetStream object store ``CORRAL_OBJECTS``
(controller/streams.py), where agents fetch them for ``file.deploy``
(agent/objects.py). An upload is the raw request body, read with the size
limit enforced while it streams in (``max_object_bytes``, 413 past it). An
object's ``sha256`` is hex, derived from the store's own digest, so it is
what an agent will verify.
"""

from __future__ import annotations

import re
from datetime import datetime

import nats.errors
from nats.js.api import ObjectInfo
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.api import ObjectList, ObjectStored, ObjectView
from common.errors import BrokerUnavailable, InvalidRequest, NotFound
from common.subjects import OBJECT_NAME, object_sha256
from common.timefmt import rfc3339
from controller.api.audit import note
from controller.api.http import Services, authorize, json_response, read_body

_NAME = re.compile(OBJECT_NAME)


def _name(raw: str | None) -> str:
    if raw is None:
        raise InvalidRequest("name: required, e.g. POST /object?name=motd.txt")
    if not _NAME.fullmatch(raw):
        raise InvalidRequest(f"name: must match {OBJECT_NAME}, got {raw[:80]!r}")
    return raw


def _store(svc: Services) -> ObjectStore:
    if svc.objects is None:
        raise BrokerUnavailable("this controller has no object store")
    return svc.objects


def _modified(mtime: str | None) -> str | None:
    try:
        return rfc3339(datetime.fromisoformat(mtime).timestamp()) if mtime else None
    except ValueError:
        return None


def _view(info: ObjectInfo) -> ObjectView:
    return ObjectView(
        name=info.name,
        size=info.size or 0,
        sha256=object_sha256(info.digest),
        modified=_modified(info.mtime),
    )


def _unreachable(exc: nats.errors.Error) -> BrokerUnavailable:
    return BrokerUnavailable(f"the object store did not answer: {type(exc).__name__}")


async def upload_object(request: Request) -> Response:
    svc = authorize(request, "file:write")
    name = _name(request.query_params.get("name"))
    note(request, details=f"object {name}")
    body = await read_body(request, svc.config.max_object_bytes)
    try:
        info = await _store(svc).put(name, body)
    except nats.errors.Error as exc:
        raise _unreachable(exc) from None
    view = _view(info)
    note(request, details=f"object {name}: {view.size} bytes, sha256 {view.sha256}")
    return json_response(ObjectStored(name=view.name, size=view.size, sha256=view.sha256), 201)


async def list_objects(request: Request) -> Response:
    svc = authorize(request, "file:read")
    try:
        found = await _store(svc).list(ignore_deletes=True)
    except NotFoundError:
        found = []  # the store says so when it is empty
    except nats.errors.Error as exc:
        raise _unreachable(exc) from None
    views = sorted((_view(info) for info in found), key=lambda view: view.name)
    return json_response(ObjectList(objects=views))


async def get_object(request: Request) -> Response:
    svc = authorize(request, "file:read")
    name = _name(request.path_params["name"])
    try:
        info = await _store(svc).get_info(name)
    except NotFoundError:
        raise NotFound(f"no object named {name!r}", title="Object not found.") from None
    except nats.errors.Error as exc:
        raise _unreachable(exc) from None
    return json_response(_view(info))


async def delete_object(request: Request) -> Response:
    svc = authorize(request, "file:write")
    name = _name(request.path_params["name"])
    note(request, details=f"object {name}")
    try:
        await _store(svc).delete(name)
    except NotFoundError:
        raise NotFound(f"no object named {name!r}", title="Object not found.") from None
    except nats.errors.Error as exc:
        raise _unreachable(exc) from None
    return Response(status_code=204)


ROUTES = [
    Route("/object", upload_object, methods=["POST"]),
    Route("/object", list_objects, methods=["GET"]),
    Route("/object/{name}", get_object, methods=["GET"]),
    Route("/object/{name}", delete_object, methods=["DELETE"]),
]
