"""The ``docker`` family's declarations: containers and images through the Engine API. Pure.

Names are checked here, before they reach a URL path: a container is named
as Docker names it (``^[a-zA-Z0-9][a-zA-Z0-9_.-]+$``, which also matches
an id), an image by a reference in Docker's grammar (``registry:5000/team/app:1.2``,
``nginx@sha256:...``). Neither can hold ``/..``, ``?`` or ``#``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from common.operations.declaration import (
    SECRET,
    Declaration,
    Family,
    NonEmpty,
    Params,
    doc,
)
from common.operations.docker_results import (
    ContainerCreateResult,
    ContainerExecResult,
    ContainerInspectResult,
    ContainerListResult,
    ContainerRemoveResult,
    ContainerStateResult,
    ImageListResult,
    ImagePullResult,
    ImageRemoveResult,
)

# Docker's own name pattern, without its optional leading "/" (which would
# put "//" in a URL path); it matches ids too, and volume names alike.
CONTAINER_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?")
LABEL_FILTER_RE = re.compile(r"[^=\s]+(=.*)?", re.DOTALL)

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Restart = Literal["no", "always", "unless-stopped", "on-failure"]


def check_container(field: str, value: str) -> None:
    if len(value) > 255 or not CONTAINER_RE.fullmatch(value):
        raise ValueError(f"{field} must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$, got {value!r}")


def check_image(field: str, value: str) -> None:
    if len(value) > 512 or not IMAGE_RE.fullmatch(value):
        raise ValueError(
            f"{field} must be an image reference like nginx:1.25 or"
            f" registry.example.com:5000/team/app@sha256:<digest>, got {value!r}"
        )


def check_env(field: str, env: dict[str, str] | None) -> None:
    for name, value in (env or {}).items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(f"{field} name {name!r} must be non-empty without '=' or NUL")
        if "\0" in value:
            raise ValueError(f"{field} value of {name!r} contains a NUL character")


ContainerName = Annotated[NonEmpty, doc("The container's name or id.")]


class ContainerParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    container: ContainerName

    def __post_init__(self) -> None:
        check_container("container", self.container)


class ContainerListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    all: Annotated[bool, doc("Stopped containers too; else running ones only.")] = False
    labels: Annotated[
        list[NonEmpty], doc("Only containers with each label: `key` or `key=value`.")
    ] = msgspec.field(default_factory=list)
    name: Annotated[
        NonEmpty | None, doc("Only containers whose name contains this (Docker's filter).")
    ] = None

    def __post_init__(self) -> None:
        for i, label in enumerate(self.labels):
            if not LABEL_FILTER_RE.fullmatch(label):
                raise ValueError(f"labels[{i}] must be key or key=value, got {label!r}")


class PortBinding(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    container_port: Annotated[Port, doc("The port inside the container.")]
    host_port: Annotated[Port | None, doc("The host port; unset: Docker picks one.")] = None
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    host_ip: Annotated[str, doc("The host address to bind; empty: every address.")] = ""


class VolumeBinding(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: Annotated[NonEmpty, doc("An absolute host path or a volume name.")]
    target: Annotated[NonEmpty, doc("The absolute path inside the container.")]
    read_only: bool = False


class ContainerCreateParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[NonEmpty, doc("The container's name: what makes create idempotent.")]
    image: Annotated[NonEmpty, doc("An image on the host (docker.image.pull), e.g. nginx:1.25.")]
    command: (
        Annotated[list[str], msgspec.Meta(min_length=1), doc("Replaces the image's CMD.")] | None
    ) = None
    env: (
        Annotated[dict[str, str], SECRET, doc("Variables laid over the image's environment.")]
        | None
    ) = None
    ports: Annotated[
        list[PortBinding],
        doc("Published ports: {container_port, host_port, protocol (tcp), host_ip}."),
    ] = msgspec.field(default_factory=list)
    volumes: Annotated[
        list[VolumeBinding], doc("Bind mounts or named volumes: {source, target, read_only}.")
    ] = msgspec.field(default_factory=list)
    labels: Annotated[dict[str, str], doc("Labels laid over the image's labels.")] = msgspec.field(
        default_factory=dict
    )
    restart: Annotated[Restart, doc("Docker's restart policy.")] = "no"
    restart_retries: Annotated[
        int,
        msgspec.Meta(ge=0),
        doc("For restart on-failure: how many times at most (0: no limit)."),
    ] = 0
    recreate: Annotated[
        bool, doc("When a container of that name differs: replace it; else the job fails.")
    ] = False

    def __post_init__(self) -> None:
        check_container("name", self.name)
        check_image("image", self.image)
        check_env("env", self.env)
        if self.restart_retries and self.restart != "on-failure":
            raise ValueError("restart_retries needs restart: on-failure")
        for i, volume in enumerate(self.volumes):
            if not volume.target.startswith("/"):
                raise ValueError(f"volumes[{i}].target must be an absolute path")
            if ":" in volume.source or ":" in volume.target:
                raise ValueError(f"volumes[{i}]: source and target must not contain ':'")
            if not (volume.source.startswith("/") or CONTAINER_RE.fullmatch(volume.source)):
                raise ValueError(
                    f"volumes[{i}].source must be an absolute path or a volume name,"
                    f" got {volume.source!r}"
                )


class ContainerStopParams(ContainerParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timeout: (
        Annotated[
            int,
            msgspec.Meta(ge=0),
            doc("Seconds to wait after SIGTERM before SIGKILL; unset: the container's own."),
        ]
        | None
    ) = None


class ContainerRemoveParams(ContainerParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    force: Annotated[bool, doc("Kill a running container first; else it is an error.")] = False


class ContainerExecParams(ContainerParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    argv: Annotated[
        list[NonEmpty], msgspec.Meta(min_length=1), doc("The program and its arguments.")
    ]
    env: Annotated[dict[str, str], SECRET, doc("Variables laid over the container's.")] | None = (
        None
    )
    workdir: Annotated[NonEmpty | None, doc("Absolute working directory in the container.")] = None
    user: Annotated[NonEmpty | None, doc("user, user:group, uid or uid:gid.")] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_env("env", self.env)
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise ValueError(f"workdir must be an absolute path, got {self.workdir!r}")


class ImageListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reference: Annotated[
        NonEmpty | None, doc("Only images matching this reference (wildcards: nginx:1.*).")
    ] = None


class ImageParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    image: Annotated[NonEmpty, doc("name[:tag] or name@digest; no tag means latest.")]

    def __post_init__(self) -> None:
        check_image("image", self.image)


class ImagePullParams(ImageParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    always: Annotated[bool, doc("Pull even when the image is present, to get a newer one.")] = False


class ImageRemoveParams(ImageParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    force: Annotated[
        bool, doc("Remove even if stopped containers use it or it has other tags.")
    ] = False


# -- declarations ------------------------------------------------------------

_SOCKET = (
    " Through the Docker Engine API (1.44, Docker 25 or newer) on /var/run/docker.sock;"
    " a host without that socket answers `skipped`."
)


def _read(name: str, params: type[Params], result: Any, summary: str, text: str) -> Declaration:
    return Declaration(
        name=name,
        params=params,
        result=result,
        kind="read",
        summary=summary,
        description=text + _SOCKET,
        example={"container": "web"} if params is ContainerParams else {},
    )


def _mutate(
    name: str, params: type[Params], result: Any, summary: str, text: str, example: dict[str, Any]
) -> Declaration:
    return Declaration(
        name=name,
        params=params,
        result=result,
        kind="mutate",
        summary=summary,
        description=text + _SOCKET,
        example=example,
        dry_run=True,
    )


FAMILY = Family(
    name="docker",
    summary="Docker containers and images, through the Engine API on its unix socket.",
    declarations=(
        _read(
            "docker.container.list",
            ContainerListParams,
            ContainerListResult,
            "List containers, running or all, by label or name.",
            "Running containers, or with `all` every one; `labels` and `name` filter as"
            " `docker ps --filter` does.",
        ),
        _read(
            "docker.container.inspect",
            ContainerParams,
            ContainerInspectResult,
            "One container's configuration and state.",
            "Image, command, ports, volumes, labels, restart policy and state; environment"
            " variables by name only, since their values may be secret.",
        ),
        _mutate(
            "docker.container.create",
            ContainerCreateParams,
            ContainerCreateResult,
            "Create a container, idempotent by name.",
            "Creates the container (not started: docker.container.start). A container of"
            " that name with the same configuration (image, command, env, ports, volumes,"
            " labels, restart policy, each compared with the image's defaults laid under)"
            " is `changed: false`. One that differs fails the job naming the differences,"
            " unless `recreate`: then it is stopped, removed and created again, and started"
            " if it was running. The image must be on the host; create does not pull.",
            {
                "name": "web",
                "image": "nginx:1.25",
                "env": {"NGINX_PORT": "80"},
                "ports": [{"container_port": 80, "host_port": 8080}],
                "volumes": [{"source": "/srv/www", "target": "/usr/share/nginx/html"}],
                "labels": {"app": "web"},
                "restart": "unless-stopped",
            },
        ),
        _mutate(
            "docker.container.start",
            ContainerParams,
            ContainerStateResult,
            "Start a container.",
            "`changed: false` when it is running already.",
            {"container": "web"},
        ),
        _mutate(
            "docker.container.stop",
            ContainerStopParams,
            ContainerStateResult,
            "Stop a container (SIGTERM, then SIGKILL after the timeout).",
            "`changed: false` when it is stopped already.",
            {"container": "web", "timeout": 10},
        ),
        _mutate(
            "docker.container.remove",
            ContainerRemoveParams,
            ContainerRemoveResult,
            "Remove a container.",
            "`changed: false` when there is none of that name. A running container is an"
            " error unless `force`.",
            {"container": "web", "force": True},
        ),
        _mutate(
            "docker.container.exec",
            ContainerExecParams,
            ContainerExecResult,
            "Run a command in a running container (argv, no shell).",
            "Its stdout, stderr (each capped) and exit code. A non-zero exit code is a"
            " completed job. Reported as changed, since corral cannot know what the command"
            " did; a dry run runs nothing and says what it would run in `would_run`. A job"
            " that times out leaves the command running in the container: Docker cannot"
            " kill an exec.",
            {"container": "web", "argv": ["nginx", "-t"]},
        ),
        _read(
            "docker.image.list",
            ImageListParams,
            ImageListResult,
            "List images.",
            "Tagged images, or with `reference` those matching it.",
        ),
        _mutate(
            "docker.image.pull",
            ImagePullParams,
            ImagePullResult,
            "Pull an image from its registry.",
            "`changed: false` when the image is present with that tag, unless `always`:"
            " then it pulls and is changed only when the tag now names another image. A"
            " dry run with `always` on a present image reports `changed: true`, since only"
            " the registry knows. Public registries only: no credentials are sent.",
            {"image": "nginx:1.25"},
        ),
        _mutate(
            "docker.image.remove",
            ImageRemoveParams,
            ImageRemoveResult,
            "Remove an image (untag, and delete its layers when no tag is left).",
            "`changed: false` when there is no such image. An image a container uses is"
            " an error (a stopped one's: unless `force`).",
            {"image": "nginx:1.25"},
        ),
    ),
)
