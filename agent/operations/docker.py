"""The ``docker.*`` operations: containers and images through the Engine API. I/O (HTTP).

Everything goes through the daemon's unix socket (agent/operations/docker_api.py);
nothing runs the ``docker`` CLI. Each mutation reads first, so a dry run
computes what would change from the API's reads alone and never calls a
mutating endpoint, and a real run that finds nothing to do says
``changed: false``. Results carry a ``diff`` ``{before, after}`` of the
state the operation is about (a container's configuration or state, an
image's id and tags).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agent.operations import docker_images
from agent.operations import docker_spec as spec
from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.docker_api import Engine, engine, require_socket
from agent.operations.docker_stream import STDERR, STDOUT, Demultiplexer
from common.operations.declaration import OperationResult
from common.operations.docker import (
    ContainerCreateParams,
    ContainerExecParams,
    ContainerListParams,
    ContainerParams,
    ContainerRemoveParams,
    ContainerStopParams,
)

# An exec's exit code is set as its output ends; allow Docker a moment.
_EXIT_CODE_POLLS = 20
_EXIT_CODE_POLL_INTERVAL = 0.05


def _flag(value: bool) -> str:
    return "1" if value else "0"  # as the docker CLI sends it


async def _container(docker: Engine, ref: str) -> dict[str, Any]:
    found = await docker.find(f"/containers/{ref}/json")
    if found is None:
        raise OperationFailed(f"no such container: {ref}")
    result: dict[str, Any] = found
    return result


def _state(container: dict[str, Any]) -> str:
    return str((container.get("State") or {}).get("Status", ""))


def _running(container: dict[str, Any]) -> bool:
    return bool((container.get("State") or {}).get("Running"))


# -- containers --------------------------------------------------------------


async def list_containers(params: ContainerListParams, ctx: OperationContext) -> OperationResult:
    query: dict[str, Any] = {"all": _flag(params.all)}
    filters = {"label": params.labels} if params.labels else {}
    if params.name is not None:
        filters["name"] = [params.name]
    if filters:
        query["filters"] = json.dumps(filters)
    async with engine(ctx.host, ctx.timeout) as docker:
        listed = await docker.get("/containers/json", **query)
    containers = [
        {
            "id": c["Id"],
            "name": (c.get("Names") or [""])[0].lstrip("/"),
            "image": c.get("Image", ""),
            "state": c.get("State", ""),
            "status": c.get("Status", ""),
            "labels": c.get("Labels") or {},
            "created": c.get("Created", 0),
        }
        for c in listed
    ]
    return OperationResult(data={"containers": containers})


async def inspect_container(params: ContainerParams, ctx: OperationContext) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        container = await _container(docker, params.container)
    return OperationResult(data=spec.inspected(container))


async def _create(docker: Engine, params: ContainerCreateParams) -> tuple[str, list[str]]:
    response = await docker.request(
        "POST", "/containers/create", params={"name": params.name}, json=spec.create_body(params)
    )
    answer = response.json()
    return str(answer["Id"]), list(answer.get("Warnings") or [])


async def _replace(
    docker: Engine, old: dict[str, Any], params: ContainerCreateParams
) -> tuple[str, list[str]]:
    """Stop (gracefully), remove and create again; started again if it was running."""
    if _running(old):
        await docker.request("POST", f"/containers/{old['Id']}/stop")
    await docker.request("DELETE", f"/containers/{old['Id']}")
    new_id, warnings = await _create(docker, params)
    if _running(old):
        await docker.request("POST", f"/containers/{new_id}/start")
    return new_id, warnings


async def create_container(params: ContainerCreateParams, ctx: OperationContext) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        image = await docker.find(f"/images/{params.image}/json")
        if image is None:
            raise OperationFailed(
                f"image {params.image} is not on this host: pull it first (docker.image.pull)"
            )
        want = spec.wanted(params, image)
        existing = await docker.find(f"/containers/{params.name}/json")
        # A lookup by name also finds a container whose id begins with it.
        if existing is not None and existing.get("Name") != f"/{params.name}":
            existing = None
        have = None if existing is None else spec.current(existing)
        found = [] if have is None else spec.differences(want, have)
        data = {
            "id": None if existing is None else existing["Id"],
            "name": params.name,
            "action": "unchanged",
            "differences": found,
            "diff": {"before": spec.shown(have), "after": spec.shown(want)},
            "warnings": [],
        }
        if have is not None and not found:
            return OperationResult(changed=False, data=data)
        if found and not params.recreate:
            raise OperationFailed(
                f"container {params.name} exists with another configuration"
                f" ({'; '.join(found)}); set recreate to replace it"
            )
        data["action"] = "created" if existing is None else "recreated"
        if ctx.dry_run:
            data["id"] = None
            return OperationResult(changed=True, data=data)
        if existing is None:
            data["id"], data["warnings"] = await _create(docker, params)
        else:
            data["id"], data["warnings"] = await _replace(docker, existing, params)
    return OperationResult(changed=True, data=data)


async def _change_state(
    ctx: OperationContext, ref: str, want_running: bool, path: str, query: dict[str, Any]
) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        container = await _container(docker, ref)
        before = _state(container)
        data = {"id": container["Id"], "name": container.get("Name", "").lstrip("/")}
        if _running(container) == want_running:
            return OperationResult(
                changed=False, data={**data, "diff": {"before": before, "after": before}}
            )
        if ctx.dry_run:
            after = "running" if want_running else "exited"
            return OperationResult(
                changed=True, data={**data, "diff": {"before": before, "after": after}}
            )
        response = await docker.request(
            "POST", f"/containers/{container['Id']}/{path}", params=query
        )
        after = _state(await _container(docker, container["Id"]))
    # 304: it got there on its own between our read and the request.
    changed = response.status_code != 304
    return OperationResult(
        changed=changed, data={**data, "diff": {"before": before, "after": after}}
    )


async def start_container(params: ContainerParams, ctx: OperationContext) -> OperationResult:
    return await _change_state(ctx, params.container, True, "start", {})


async def stop_container(params: ContainerStopParams, ctx: OperationContext) -> OperationResult:
    query = {} if params.timeout is None else {"t": params.timeout}
    require_socket(ctx.host)  # a host without Docker skips, whatever the timeout
    if params.timeout is not None and params.timeout >= ctx.timeout:
        raise OperationFailed(
            f"timeout {params.timeout}s does not fit in the job's {ctx.timeout:g}s"
        )
    return await _change_state(ctx, params.container, False, "stop", query)


async def remove_container(params: ContainerRemoveParams, ctx: OperationContext) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        container = await docker.find(f"/containers/{params.container}/json")
        if container is None:
            return OperationResult(
                changed=False, data={"id": None, "diff": {"before": None, "after": None}}
            )
        if _running(container) and not params.force:
            raise OperationFailed(
                f"container {params.container} is running: stop it first, or set force"
            )
        data = {"id": container["Id"], "diff": {"before": _state(container), "after": None}}
        if not ctx.dry_run:
            await docker.request(
                "DELETE", f"/containers/{container['Id']}", params={"force": _flag(params.force)}
            )
    return OperationResult(changed=True, data=data)


async def _exit_code(docker: Engine, exec_id: str) -> int:
    for _ in range(_EXIT_CODE_POLLS):
        info = await docker.get(f"/exec/{exec_id}/json")
        if not info.get("Running"):
            return int(info["ExitCode"])
        await asyncio.sleep(_EXIT_CODE_POLL_INTERVAL)
    raise OperationFailed(f"exec {exec_id[:12]} still runs after its output ended")


async def exec_in_container(params: ContainerExecParams, ctx: OperationContext) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        container = await _container(docker, params.container)
        if not _running(container):
            raise OperationFailed(f"container {params.container} is not running")
        if ctx.dry_run:
            would_run = {
                "container": params.container,
                "argv": params.argv,
                "env": sorted(params.env or {}),
                "workdir": params.workdir,
                "user": params.user,
            }
            return OperationResult(changed=False, data={"would_run": would_run})
        config: dict[str, Any] = {
            "AttachStdin": False,
            "AttachStdout": True,
            "AttachStderr": True,
            "Tty": False,  # a TTY would merge stderr into stdout
            "Cmd": params.argv,
            "Env": [f"{name}={value}" for name, value in (params.env or {}).items()],
        }
        if params.workdir is not None:
            config["WorkingDir"] = params.workdir
        if params.user is not None:
            config["User"] = params.user
        created = await docker.request("POST", f"/containers/{container['Id']}/exec", json=config)
        exec_id = str(created.json()["Id"])
        output = Demultiplexer(ctx.max_output_bytes)
        start = {"Detach": False, "Tty": False}
        async with docker.stream("POST", f"/exec/{exec_id}/start", json=start) as response:
            async for chunk in response.aiter_raw():
                output.feed(chunk)
        output.close()
        exit_code = await _exit_code(docker, exec_id)
    data = {
        "stdout": output.text(STDOUT),
        "stderr": output.text(STDERR),
        "exit_code": exit_code,
        "stdout_truncated": output.truncated[STDOUT],
        "stderr_truncated": output.truncated[STDERR],
    }
    return OperationResult(changed=True, data=data)


HANDLERS: dict[str, Handler] = {
    "docker.container.list": list_containers,
    "docker.container.inspect": inspect_container,
    "docker.container.create": create_container,
    "docker.container.start": start_container,
    "docker.container.stop": stop_container,
    "docker.container.remove": remove_container,
    "docker.container.exec": exec_in_container,
    **docker_images.HANDLERS,
}
