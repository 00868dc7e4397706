"""The Docker Engine API on its unix socket, as the docker handlers use it. I/O (HTTP).

The socket is the host's ``/var/run/docker.sock`` under the host root
(``ctx.host.file``), so tests serve a fake Engine under a temporary root; a
host without it lacks Docker, which is :class:`OperationSkipped`. Every
request names the API version corral was written against, 1.44 (Docker
25): Docker 29 refuses anything older, and a daemon older than 1.44 is told
apart up front (``GET /version``, which is unversioned) with an error that
says so, rather than a 400 on the first real request.

Docker answers errors as ``{"message": ...}``; they become
:class:`EngineError` (an :class:`OperationFailed`) with the status, so a
handler can tell "no such container" (404) from a conflict (409).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.operations.errors import OperationFailed, OperationSkipped
from agent.operations.host import Host

if TYPE_CHECKING:
    import httpx

API_VERSION = "1.44"
SOCKET = "/var/run/docker.sock"
# sun_path holds 108 bytes with the terminating NUL.
_UNIX_PATH_MAX = 107


def version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


class EngineError(OperationFailed):
    """Docker answered with an error status; ``message`` is Docker's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Engine:
    """Requests to one daemon, on the pinned API version."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """The answer to a request; an error status is :class:`EngineError`."""
        response = await self.client.request(
            method, f"/v{API_VERSION}{path}", params=params, json=json
        )
        if response.status_code >= 400:
            raise EngineError(response.status_code, _message(response.content, response))
        return response

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params or None)).json()

    async def find(self, path: str) -> Any:
        """``GET path``'s JSON, or None when Docker has no such thing (404)."""
        try:
            return await self.get(path)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> AsyncIterator[httpx.Response]:
        """A response to read as it comes (pull progress, exec output)."""
        request = self.client.build_request(
            method, f"/v{API_VERSION}{path}", params=params, json=json
        )
        response = await self.client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                body = await response.aread()
                raise EngineError(response.status_code, _message(body, response))
            yield response
        finally:
            await response.aclose()

    async def check_version(self) -> None:
        """Fail unless the daemon speaks :data:`API_VERSION`."""
        response = await self.client.get("/version")
        if response.status_code >= 400:
            raise EngineError(response.status_code, _message(response.content, response))
        info = response.json()
        newest, oldest = info.get("ApiVersion", "0"), info.get("MinAPIVersion", "0")
        pinned = version_tuple(API_VERSION)
        if version_tuple(newest) < pinned:
            raise OperationFailed(
                f"the Docker daemon (Docker {info.get('Version', '?')}) speaks Engine API"
                f" {newest} at most; corral needs {API_VERSION} (Docker 25 or newer)"
            )
        if version_tuple(oldest) > pinned:
            raise OperationFailed(
                f"the Docker daemon (Docker {info.get('Version', '?')}) speaks Engine API"
                f" {oldest} at least; corral speaks {API_VERSION}"
            )


def _message(body: bytes, response: httpx.Response) -> str:
    try:
        said = json.loads(body).get("message")
    except (ValueError, AttributeError):  # not JSON, or not an object
        said = None
    text = said or body.decode("utf-8", errors="replace").strip() or response.reason_phrase
    return f"docker: {text}"


def require_socket(host: Host) -> Path:
    """The local path of the host's docker socket, else :class:`OperationSkipped`."""
    socket = host.file(SOCKET)
    if not socket.is_socket():
        raise OperationSkipped(f"no docker socket at {SOCKET}")
    return socket


@contextlib.asynccontextmanager
async def engine(host: Host, limit: float) -> AsyncIterator[Engine]:
    """A connection to the host's daemon, its version checked.

    ``limit``: seconds any one read or write may wait (the job's own
    timeout bounds the whole). No socket: :class:`OperationSkipped`. A
    daemon that does not answer, or answers garbage, is
    :class:`OperationFailed`: Docker is installed but broken, which whoever
    runs the host wants to hear about.
    """
    import httpx  # on the first docker operation: an agent that runs none never holds it

    socket = require_socket(host)
    if len(os.fsencode(socket)) > _UNIX_PATH_MAX:
        raise OperationFailed(f"the docker socket's path is too long to connect to: {socket}")
    # Plain HTTP on a local socket: no TLS ever happens, so do not pay for
    # loading a CA bundle (about 0.2 s) on every operation.
    transport = httpx.AsyncHTTPTransport(uds=str(socket), verify=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://docker", timeout=limit
    ) as client:
        try:
            found = Engine(client)
            await found.check_version()
            yield found
        except httpx.TimeoutException:
            raise OperationFailed(f"the Docker daemon did not answer within {limit:g}s") from None
        except httpx.HTTPError as exc:
            raise OperationFailed(f"cannot talk to the Docker daemon at {SOCKET}: {exc}") from None
        except ValueError as exc:  # a body that is not JSON
            raise OperationFailed(f"the Docker daemon answered garbage: {exc}") from None
