"""The ``docker`` family's result types (common/operations/docker.py declares it). Pure."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from common.operations.declaration import doc


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the docker results: a handler's dict with a key too many fails its test."""


class Diff(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A setting before and after (on a dry run: as it would be); null: absent."""

    before: Any
    after: Any


class ContainerSummary(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    image: str
    state: Annotated[str, doc("created, running, paused, restarting, removing, exited or dead.")]
    status: Annotated[str, doc("Docker's words, e.g. 'Up 2 hours'.")]
    labels: dict[str, str]
    created: Annotated[int, doc("Seconds since the epoch.")]


class ContainerListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    containers: list[ContainerSummary]


class ContainerState(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: str
    running: bool
    paused: bool
    restarting: bool
    exit_code: int
    pid: int
    started_at: str
    finished_at: str
    error: str


class ContainerInspectResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    image: Annotated[str, doc("The image as the container was created from it.")]
    image_id: str
    created: Annotated[str, doc("RFC 3339.")]
    state: ContainerState
    command: list[str]
    env: Annotated[list[str], doc("Names only: values may be secret.")]
    labels: dict[str, str]
    ports: Annotated[list[str], doc("[host_ip:]host_port:container_port/protocol")]
    volumes: Annotated[list[str], doc("source:target[:ro]")]
    restart: Annotated[str, doc("The restart policy, e.g. always or on-failure:3.")]
    restart_count: int


class ContainerCreateResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str | None, doc("Null on a dry run that would create it.")]
    name: str
    action: Annotated[
        Literal["created", "recreated", "unchanged"], doc("On a dry run: what it would do.")
    ]
    differences: Annotated[list[str], doc("What differed from an existing container.")]
    diff: Annotated[Diff, doc("The configuration, env values masked.")]
    warnings: Annotated[list[str], doc("Docker's warnings on create.")]


class ContainerStateResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    diff: Annotated[Diff, doc("The state, e.g. exited before and running after.")]


class ContainerRemoveResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str | None, doc("Null when there was no such container.")]
    diff: Annotated[Diff, doc("The container's state before; null after.")]


class WouldExec(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a dry run would have run; the secret values stay out."""

    container: str
    argv: list[str]
    env: Annotated[list[str], doc("Names of the variables it would set.")]
    workdir: str | None
    user: str | None


class ContainerExecResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stdout: Annotated[str, doc("UTF-8, undecodable bytes replaced, capped.")] = ""
    stderr: Annotated[str, doc("Like stdout.")] = ""
    exit_code: Annotated[int | None, doc("Null on a dry run.")] = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    would_run: Annotated[WouldExec | None, doc("Dry run only: what it would run.")] = None


class ImageSummary(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    tags: list[str]
    digests: list[str]
    created: Annotated[int, doc("Seconds since the epoch.")]
    size: Annotated[int, doc("Bytes.")]


class ImageListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    images: list[ImageSummary]


class ImagePullResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    image: Annotated[str, doc("The reference pulled, with its tag.")]
    id: Annotated[str | None, doc("The image id after; null on a dry run that would pull.")]
    status: Annotated[str, doc("Docker's last status line; empty when nothing was pulled.")]
    diff: Annotated[Diff, doc("The image id the reference named before and after.")]


class ImageRemoveResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    image: str
    untagged: list[str]
    deleted: list[str]
    diff: Annotated[Diff, doc("The image's id and tags before; null after.")]
