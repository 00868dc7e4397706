"""The ``docker.image.*`` operations: list, pull and remove images. I/O (HTTP).

Like the container operations (agent/operations/docker.py): read first, so a
dry run never calls a mutating endpoint; ``diff`` is the image's id (and
tags) before and after.
"""

from __future__ import annotations

import json
from typing import Any

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.docker_api import Engine, engine
from common.operations.declaration import OperationResult
from common.operations.docker import ImageListParams, ImagePullParams, ImageRemoveParams


def _flag(value: bool) -> str:
    return "1" if value else "0"  # as the docker CLI sends it


def pull_reference(image: str) -> tuple[str, str, str]:
    """``(fromImage, tag, full reference)``: a missing tag is ``latest``.

    Docker pulls every tag of a repository when the tag is empty; never that.
    """
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest, image
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:
        return name, tag, image
    return image, "latest", f"{image}:latest"


async def list_images(params: ImageListParams, ctx: OperationContext) -> OperationResult:
    query = (
        {}
        if params.reference is None
        else {"filters": json.dumps({"reference": [params.reference]})}
    )
    async with engine(ctx.host, ctx.timeout) as docker:
        listed = await docker.get("/images/json", **query)
    images = [
        {
            "id": i["Id"],
            "tags": i.get("RepoTags") or [],
            "digests": i.get("RepoDigests") or [],
            "created": i.get("Created", 0),
            "size": i.get("Size", 0),
        }
        for i in listed
    ]
    return OperationResult(data={"images": images})


async def _pull(docker: Engine, name: str, tag: str, full: str) -> str:
    """Pull, reading Docker's progress lines; the last status. An error line fails it."""
    status = ""
    params = {"fromImage": name, "tag": tag}
    async with docker.stream("POST", "/images/create", params=params) as response:
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            progress = json.loads(line)
            if progress.get("error") or progress.get("errorDetail"):
                said = progress.get("error") or progress["errorDetail"].get("message", "")
                raise OperationFailed(f"docker: pulling {full}: {said}")
            status = progress.get("status", status)
    return status


async def pull_image(params: ImagePullParams, ctx: OperationContext) -> OperationResult:
    name, tag, full = pull_reference(params.image)
    async with engine(ctx.host, ctx.timeout) as docker:
        present = await docker.find(f"/images/{full}/json")
        before = None if present is None else {"image": full, "id": present["Id"]}
        data: dict[str, Any] = {"image": full, "id": None, "status": ""}
        if before is not None and not params.always:
            data["id"] = before["id"]
            return OperationResult(
                changed=False, data={**data, "diff": {"before": before, "after": before}}
            )
        if ctx.dry_run:
            # Only the registry knows whether it would bring another image.
            after = {"image": full, "id": None}
            return OperationResult(
                changed=True, data={**data, "diff": {"before": before, "after": after}}
            )
        data["status"] = await _pull(docker, name, tag, full)
        pulled = await docker.find(f"/images/{full}/json")
    if pulled is None:
        raise OperationFailed(f"docker pulled {full} but does not list it")
    after = {"image": full, "id": pulled["Id"]}
    data["id"] = pulled["Id"]
    return OperationResult(
        changed=before != after, data={**data, "diff": {"before": before, "after": after}}
    )


def _described(image: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if image is None else {"id": image["Id"], "tags": image.get("RepoTags") or []}


async def remove_image(params: ImageRemoveParams, ctx: OperationContext) -> OperationResult:
    async with engine(ctx.host, ctx.timeout) as docker:
        image = await docker.find(f"/images/{params.image}/json")
        data: dict[str, Any] = {"image": params.image, "untagged": [], "deleted": []}
        before = _described(image)
        if image is None:
            return OperationResult(
                changed=False, data={**data, "diff": {"before": None, "after": None}}
            )
        if ctx.dry_run:
            return OperationResult(
                changed=True,
                data={**data, "diff": {"before": before, "after": _untagged(before, params.image)}},
            )
        answer = (
            await docker.request(
                "DELETE", f"/images/{params.image}", params={"force": _flag(params.force)}
            )
        ).json()
        after = _described(await docker.find(f"/images/{image['Id']}/json"))
    data["untagged"] = [item["Untagged"] for item in answer if "Untagged" in item]
    data["deleted"] = [item["Deleted"] for item in answer if "Deleted" in item]
    return OperationResult(changed=True, data={**data, "diff": {"before": before, "after": after}})


def _untagged(before: dict[str, Any] | None, ref: str) -> dict[str, Any] | None:
    """What removing ``ref`` would leave: the image with its other tags, or nothing."""
    assert before is not None
    _, _, full = pull_reference(ref)
    rest = [tag for tag in before["tags"] if tag != full]
    if full in before["tags"] and rest:
        return {**before, "tags": rest}
    return None


HANDLERS: dict[str, Handler] = {
    "docker.image.list": list_images,
    "docker.image.pull": pull_image,
    "docker.image.remove": remove_image,
}
