"""A fake Docker Engine API on a unix socket, for the docker family's tests. I/O (a socket server).

It speaks HTTP/1.1 as dockerd does (JSON bodies with Content-Length, 204
and 304 without a body, chunked JSON lines while pulling, and for an exec a
hijacked connection: a 200 head, then the multiplexed stream until the
connection closes) and answers in the Engine API's JSON shapes: copies of
the samples under docker_samples/ with its own ids, names and states laid
over. Errors are ``{"message": ...}`` with Docker's status codes and words.

It keeps images, containers and execs in memory; ``registry`` holds what a
pull can bring. Every request is recorded, so a test can check that a dry
run called no mutating endpoint (:meth:`FakeEngine.mutations`). Nothing is
run: an exec answers from ``exec_answers``, or echoes for ``echo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fnmatch
import hashlib
import json
import re
import struct
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SAMPLES = Path(__file__).resolve().parent / "docker_samples"
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _bool(query: dict[str, list[str]], name: str) -> bool:
    # moby's httputils.BoolValue
    value = query.get(name, [""])[0].strip().lower()
    return value not in ("", "0", "no", "false", "none")


def full_tag(ref: str) -> str:
    """``nginx`` -> ``nginx:latest``, as Docker reads a reference without a tag."""
    if "@" in ref:
        return ref
    _, colon, tag = ref.rpartition(":")
    return ref if colon and "/" not in tag else f"{ref}:latest"


@dataclass
class Request:
    method: str
    path: str  # without the /vX.Y prefix
    query: dict[str, list[str]]
    body: bytes
    version: str | None  # the /vX.Y the client asked for

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


@dataclass
class Image:
    id: str
    tags: list[str]
    config: dict[str, Any]  # Env, Cmd, Labels
    created: int = 1715219146
    size: int = 187694648


@dataclass
class Container:
    id: str
    name: str  # with Docker's leading "/"
    image: Image
    config: dict[str, Any]
    host_config: dict[str, Any]
    status: str = "created"
    exit_code: int = 0
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    created: str = field(default_factory=_now)

    @property
    def running(self) -> bool:
        return self.status == "running"


class Answer(Exception):
    """An error answer: raised by a route, written by the server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@contextlib.contextmanager
def short_root() -> Iterator[Path]:
    """A host root short enough for a socket under it: a socket's path holds at
    most 107 bytes, and pytest's ``tmp_path`` under a long test name may not."""
    with tempfile.TemporaryDirectory(prefix="corral-docker-") as root:
        yield Path(root)


@dataclass
class FakeEngine:
    """Serves ``/var/run/docker.sock`` under the host root ``root``."""

    root: Path
    api_version: str = "1.45"
    min_api_version: str = "1.24"
    images: dict[str, Image] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    registry: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    exec_answers: dict[tuple[str, ...], tuple[bytes, bytes, int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    execs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _counter: int = 0

    @property
    def socket(self) -> Path:
        return self.root / "var" / "run" / "docker.sock"

    # -- running -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeEngine]:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket))
        try:
            yield self
        finally:
            self._server.close()
            await self._server.wait_closed()

    # -- what tests set up and look at ---------------------------------------

    def new_id(self) -> str:
        self._counter += 1
        return hashlib.sha256(f"{self.socket}:{self._counter}".encode()).hexdigest()

    def add_image(self, ref: str, **config: Any) -> Image:
        """An image on the host, tagged ``ref``; ``config``: Env, Cmd, Labels."""
        defaults = copy.deepcopy(sample("image_inspect.json")["Config"])
        image = Image(id=f"sha256:{self.new_id()}", tags=[full_tag(ref)], config=defaults | config)
        self.images[image.id] = image
        return image

    def publish(self, ref: str, **config: Any) -> None:
        """Make ``ref`` pullable with that config (a new image id each pull)."""
        self.registry[full_tag(ref)] = config

    def mutations(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests if r.method != "GET"]

    def container(self, ref: str) -> Container:
        for container in self.containers.values():
            if container.name == f"/{ref.lstrip('/')}":
                return container
        matches = [c for c in self.containers.values() if c.id.startswith(ref)]
        if len(matches) != 1:
            raise Answer(404, f"No such container: {ref}")
        return matches[0]

    def image(self, ref: str) -> Image:
        tag = full_tag(ref)
        for image in self.images.values():
            if tag in image.tags:
                return image
        bare = ref.removeprefix("sha256:")
        matches = [i for i in self.images.values() if i.id.removeprefix("sha256:").startswith(bare)]
        if len(bare) < 4 or len(matches) != 1:
            raise Answer(404, f"No such image: {ref}")
        return matches[0]

    # -- HTTP ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._handle(method, target, body, writer):
                    return
        finally:
            writer.close()

    async def _handle(
        self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection is done (an exec hijacked it)."""
        url = urlsplit(target)
        path = unquote(url.path)
        version = None
        if match := re.match(r"^/v(\d+\.\d+)(/.*)$", path):
            version, path = match[1], match[2]
        request = Request(method, path, parse_qs(url.query), body, version)
        self.requests.append(request)
        try:
            self._check_version(request)
            route, params = self._route(method, path)
            result = route(request, **params)
        except Answer as error:
            await self._write(writer, error.status, {"message": error.message})
            return True
        if isinstance(result, Hijack):
            await self._hijack(writer, result)
            return False
        if isinstance(result, Progress):
            await self._chunked(writer, result.lines)
            return True
        status, payload = result
        await self._write(writer, status, payload)
        return True

    def _check_version(self, request: Request) -> None:
        if request.version is None:
            return
        if _version(request.version) > _version(self.api_version):
            raise Answer(
                400,
                f"client version {request.version} is too new."
                f" Maximum supported API version is {self.api_version}",
            )
        if _version(request.version) < _version(self.min_api_version):
            raise Answer(
                400,
                f"client version {request.version} is too old."
                f" Minimum supported API version is {self.min_api_version}",
            )

    def _head(self, status: int, extra: str = "") -> bytes:
        return (
            f"HTTP/1.1 {status} {REASONS[status]}\r\n"
            f"Api-Version: {self.api_version}\r\n"
            "Docker-Experimental: false\r\nOstype: linux\r\n"
            "Server: Docker/26.1.4 (linux)\r\n"
            f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S GMT')}\r\n{extra}\r\n"
        ).encode()

    async def _write(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        if status in (204, 304):
            writer.write(self._head(status))
        else:
            body = (json.dumps(payload) + "\n").encode()  # Go's encoder ends with a newline
            extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(self._head(status, extra) + body)
        await writer.drain()

    async def _chunked(self, writer: asyncio.StreamWriter, lines: list[dict[str, Any]]) -> None:
        writer.write(
            self._head(200, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
        )
        for line in lines:
            data = (json.dumps(line) + "\r\n").encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _hijack(self, writer: asyncio.StreamWriter, hijack: Hijack) -> None:
        # What moby writes for an exec start without "Upgrade: tcp": a raw-stream
        # content type, yet multiplexed frames (no TTY), until it closes.
        writer.write(self._head(200, "Content-Type: application/vnd.docker.raw-stream\r\n"))
        for stream, payload in hijack.frames:
            header = struct.pack(">BxxxL", stream, len(payload))
            # Header and payload in separate writes: the reader may see them apart.
            writer.write(header)
            await writer.drain()
            writer.write(payload)
            await writer.drain()
        writer.close()

    def _route(self, method: str, path: str) -> tuple[Callable[..., Any], dict[str, str]]:
        for route_method, pattern, handler in ROUTES:
            if route_method == method and (match := re.fullmatch(pattern, path)):
                return getattr(self, handler), match.groupdict()
        raise Answer(404, "page not found")

    # -- system --------------------------------------------------------------

    def version(self, request: Request) -> tuple[int, Any]:
        info = sample("version.json")
        info["ApiVersion"], info["MinAPIVersion"] = self.api_version, self.min_api_version
        return 200, info

    # -- containers ------------------------------------------------------------

    def list_containers(self, request: Request) -> tuple[int, Any]:
        filters = json.loads(request.query.get("filters", ["{}"])[0])
        everything = _bool(request.query, "all")
        listed = []
        for container in self.containers.values():
            labels = container.config.get("Labels") or {}
            if not everything and not container.running:
                continue
            if any(not _has_label(labels, wanted) for wanted in filters.get("label", [])):
                continue
            if any(name not in container.name for name in filters.get("name", [])):
                continue
            listed.append(self._summary(container))
        return 200, listed

    def _summary(self, container: Container) -> dict[str, Any]:
        summary: dict[str, Any] = sample("container_summary.json")
        summary.update(
            Id=container.id,
            Names=[container.name],
            Image=container.config["Image"],
            ImageID=container.image.id,
            Command=" ".join(container.config.get("Cmd") or []),
            Labels=container.config.get("Labels") or {},
            State=container.status,
            Status="Up 2 seconds" if container.running else f"Exited ({container.exit_code})",
        )
        return summary

    def inspect_container(self, request: Request, ref: str) -> tuple[int, Any]:
        container = self.container(ref)
        inspect = sample("container_inspect.json")
        inspect.update(
            Id=container.id,
            Name=container.name,
            Created=container.created,
            Image=container.image.id,
            HostConfig=inspect["HostConfig"] | container.host_config,
            Config=inspect["Config"] | container.config,
        )
        inspect["State"].update(
            Status=container.status,
            Running=container.running,
            Pid=4242 if container.running else 0,
            ExitCode=container.exit_code,
            StartedAt=container.started_at,
            FinishedAt=container.finished_at,
        )
        return 200, inspect

    def create_container(self, request: Request) -> tuple[int, Any]:
        name = request.query.get("name", [""])[0]
        body = request.json()
        if not re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+", name):
            raise Answer(
                400, f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        for other in self.containers.values():
            if other.name == f"/{name}":
                raise Answer(
                    409,
                    f'Conflict. The container name "/{name}" is already in use by container'
                    f' "{other.id}". You have to remove (or rename) that container to be able'
                    " to reuse that name.",
                )
        image = self.image(body["Image"])
        defaults = image.config
        # The daemon lays the image's defaults under the container's config.
        env = {e.partition("=")[0]: e for e in defaults.get("Env") or []}
        env |= {e.partition("=")[0]: e for e in body.get("Env") or []}
        config = {
            "Image": body["Image"],
            "Cmd": body.get("Cmd") or defaults.get("Cmd"),
            "Env": list(env.values()),
            "Labels": (defaults.get("Labels") or {}) | (body.get("Labels") or {}),
            "ExposedPorts": body.get("ExposedPorts") or None,
        }
        host = body.get("HostConfig") or {}
        policy = host.get("RestartPolicy") or {}
        host_config = {
            "Binds": host.get("Binds") or None,
            "PortBindings": host.get("PortBindings") or {},
            "RestartPolicy": {
                "Name": policy.get("Name") or "no",
                "MaximumRetryCount": policy.get("MaximumRetryCount", 0),
            },
        }
        container = Container(self.new_id(), f"/{name}", image, config, host_config)
        self.containers[container.id] = container
        return 201, {"Id": container.id, "Warnings": []}

    def start_container(self, request: Request, ref: str) -> tuple[int, Any]:
        container = self.container(ref)
        if container.running:
            return 304, None
        container.status, container.started_at = "running", _now()
        return 204, None

    def stop_container(self, request: Request, ref: str) -> tuple[int, Any]:
        container = self.container(ref)
        if not container.running:
            return 304, None
        container.status, container.exit_code, container.finished_at = "exited", 0, _now()
        return 204, None

    def remove_container(self, request: Request, ref: str) -> tuple[int, Any]:
        container = self.container(ref)
        if container.running and not _bool(request.query, "force"):
            raise Answer(
                409,
                f'cannot remove container "{container.name}": container is running:'
                " stop the container before removing or force remove",
            )
        del self.containers[container.id]
        return 204, None

    # -- exec ------------------------------------------------------------------

    def create_exec(self, request: Request, ref: str) -> tuple[int, Any]:
        container = self.container(ref)
        if not container.running:
            raise Answer(409, f"container {container.id} is not running")
        exec_id = self.new_id()
        self.execs[exec_id] = {"container": container, "config": request.json(), "exit": None}
        return 201, {"Id": exec_id}

    def start_exec(self, request: Request, exec_id: str) -> Hijack:
        if exec_id not in self.execs:
            raise Answer(404, f"No such exec instance: {exec_id}")
        instance = self.execs[exec_id]
        argv = tuple(instance["config"]["Cmd"])
        if argv in self.exec_answers:
            stdout, stderr, code = self.exec_answers[argv]
        elif argv[0] == "echo":
            stdout, stderr, code = (" ".join(argv[1:]) + "\n").encode(), b"", 0
        else:
            stderr = f'exec: "{argv[0]}": executable file not found in $PATH\n'.encode()
            stdout, code = b"", 127
        instance["exit"] = code
        frames = [(1, stdout)] if stdout else []
        frames += [(2, stderr)] if stderr else []
        return Hijack(frames)

    def inspect_exec(self, request: Request, exec_id: str) -> tuple[int, Any]:
        if exec_id not in self.execs:
            raise Answer(404, f"No such exec instance: {exec_id}")
        instance = self.execs[exec_id]
        info = sample("exec_inspect.json")
        argv = instance["config"]["Cmd"]
        info.update(
            ID=exec_id,
            ContainerID=instance["container"].id,
            Running=instance["exit"] is None,
            ExitCode=instance["exit"] or 0,
        )
        info["ProcessConfig"].update(entrypoint=argv[0], arguments=argv[1:])
        return 200, info

    # -- images ----------------------------------------------------------------

    def list_images(self, request: Request) -> tuple[int, Any]:
        filters = json.loads(request.query.get("filters", ["{}"])[0])
        listed = []
        for image in self.images.values():
            patterns = filters.get("reference", [])
            if patterns and not any(
                fnmatch.fnmatchcase(tag, full_tag(p)) or fnmatch.fnmatchcase(tag, p)
                for p in patterns
                for tag in image.tags
            ):
                continue
            summary = sample("image_summary.json")
            summary.update(Id=image.id, RepoTags=image.tags, Labels=image.config.get("Labels"))
            listed.append(summary)
        return 200, listed

    def inspect_image(self, request: Request, name: str) -> tuple[int, Any]:
        image = self.image(name)
        inspect = sample("image_inspect.json")
        inspect.update(Id=image.id, RepoTags=image.tags, Config=image.config)
        return 200, inspect

    def pull_image(self, request: Request) -> Progress:
        name = request.query.get("fromImage", [""])[0]
        tag = request.query.get("tag", [""])[0]
        ref = f"{name}@{tag}" if ":" in tag else f"{name}:{tag}"
        if ref not in self.registry:
            raise Answer(
                404,
                f"pull access denied for {name}, repository does not exist or may require"
                " 'docker login': denied: requested access to the resource is denied",
            )
        config = self.registry[ref]
        lines: list[dict[str, Any]] = [
            json.loads(line) for line in (SAMPLES / "pull_progress.jsonl").read_text().splitlines()
        ]
        lines[0] = {"status": f"Pulling from {name}", "id": tag}
        if config is None:  # a registry that breaks off half way
            message = "unexpected EOF"
            return Progress([*lines[:3], {"errorDetail": {"message": message}, "error": message}])
        for image in list(self.images.values()):
            image.tags = [t for t in image.tags if t != ref]
        self.add_image(ref, **config)
        lines[-1] = {"status": f"Status: Downloaded newer image for {ref}"}
        return Progress(lines)

    def remove_image(self, request: Request, name: str) -> tuple[int, Any]:
        image = self.image(name)
        tag = full_tag(name)
        if tag in image.tags and len(image.tags) > 1:
            image.tags.remove(tag)
            return 200, [{"Untagged": tag}]
        users = [c for c in self.containers.values() if c.image is image]
        if any(c.running for c in users):
            raise Answer(
                409,
                f"conflict: unable to delete {image.id[7:19]} (cannot be forced) - image is"
                f" being used by running container {users[0].id[:12]}",
            )
        if users and not _bool(request.query, "force"):
            raise Answer(
                409,
                f'conflict: unable to remove repository reference "{name}" (must force) -'
                f" container {users[0].id[:12]} is using its referenced image {image.id[7:19]}",
            )
        del self.images[image.id]
        return 200, [*({"Untagged": t} for t in image.tags), {"Deleted": image.id}]


@dataclass
class Hijack:
    frames: list[tuple[int, bytes]]


@dataclass
class Progress:
    lines: list[dict[str, Any]]


def _has_label(labels: dict[str, str], wanted: str) -> bool:
    key, equals, value = wanted.partition("=")
    return key in labels and (not equals or labels[key] == value)


ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", r"/version", "version"),
    ("GET", r"/containers/json", "list_containers"),
    ("POST", r"/containers/create", "create_container"),
    ("GET", r"/containers/(?P<ref>[^/]+)/json", "inspect_container"),
    ("POST", r"/containers/(?P<ref>[^/]+)/start", "start_container"),
    ("POST", r"/containers/(?P<ref>[^/]+)/stop", "stop_container"),
    ("DELETE", r"/containers/(?P<ref>[^/]+)", "remove_container"),
    ("POST", r"/containers/(?P<ref>[^/]+)/exec", "create_exec"),
    ("POST", r"/exec/(?P<exec_id>[^/]+)/start", "start_exec"),
    ("GET", r"/exec/(?P<exec_id>[^/]+)/json", "inspect_exec"),
    ("GET", r"/images/json", "list_images"),
    ("POST", r"/images/create", "pull_image"),
    ("GET", r"/images/(?P<name>.+)/json", "inspect_image"),
    ("DELETE", r"/images/(?P<name>.+)", "remove_image"),
)
