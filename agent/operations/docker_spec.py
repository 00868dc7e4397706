"""A container's configuration as corral compares and shows it. Pure: no I/O.

``docker.container.create`` is idempotent by name: it compares what the
parameters ask for with what ``GET /containers/{name}/json`` says. Docker
lays the image's defaults under what a container is created with (its
``CMD`` when no command is given, its environment and labels under the
container's), so the wanted configuration is computed the same way from
``GET /images/{image}/json`` before comparing. Only what the parameters can
set is compared; ports, binds and the restart policy are stored by Docker
as they were sent.

Environment values may be secret: differences name the variables, and the
configuration shown in a diff masks their values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from common.operations.docker import ContainerCreateParams, PortBinding, VolumeBinding
from common.redaction import REDACTED

FIELDS = ("image", "image_id", "command", "env", "labels", "ports", "volumes", "restart")


def env_map(entries: Iterable[str] | None) -> dict[str, str]:
    """Docker's ``["NAME=value", ...]`` as a mapping."""
    pairs = (entry.partition("=") for entry in entries or ())
    return {name: value for name, _, value in pairs}


def restart_policy(name: str, retries: int) -> str:
    name = name or "no"  # older daemons store an unset policy as ""
    return f"{name}:{retries}" if name == "on-failure" and retries else name


def port_text(key: str, host_ip: str, host_port: str) -> str:
    """Like ``docker run -p``: ``[host_ip:]host_port:container_port/protocol``."""
    if host_ip:
        return f"{host_ip}:{host_port}:{key}"
    return f"{host_port}:{key}" if host_port else key


def _port_key(port: PortBinding) -> str:
    return f"{port.container_port}/{port.protocol}"


def _bind(volume: VolumeBinding) -> str:
    return f"{volume.source}:{volume.target}" + (":ro" if volume.read_only else "")


def bindings_text(bindings: Mapping[str, Any] | None) -> list[str]:
    """``HostConfig.PortBindings`` as sorted ``port_text`` strings."""
    return sorted(
        port_text(key, b.get("HostIp") or "", b.get("HostPort") or "")
        for key, listed in (bindings or {}).items()
        for b in listed or ()
    )


def wanted(params: ContainerCreateParams, image: Mapping[str, Any]) -> dict[str, Any]:
    """What the container should be, the image's defaults (its inspect) laid under."""
    defaults = image.get("Config") or {}
    command = params.command if params.command is not None else defaults.get("Cmd") or []
    return {
        "image": params.image,
        "image_id": image.get("Id", ""),
        "command": list(command),
        "env": env_map(defaults.get("Env")) | (params.env or {}),
        "labels": dict(defaults.get("Labels") or {}) | params.labels,
        "ports": sorted(
            port_text(_port_key(p), p.host_ip, str(p.host_port or "")) for p in params.ports
        ),
        "volumes": sorted(_bind(v) for v in params.volumes),
        "restart": restart_policy(params.restart, params.restart_retries),
    }


def current(container: Mapping[str, Any]) -> dict[str, Any]:
    """What an existing container is, from its inspect, in the shape of :func:`wanted`."""
    config = container.get("Config") or {}
    host = container.get("HostConfig") or {}
    policy = host.get("RestartPolicy") or {}
    return {
        "image": config.get("Image", ""),
        "image_id": container.get("Image", ""),
        "command": list(config.get("Cmd") or []),
        "env": env_map(config.get("Env")),
        "labels": dict(config.get("Labels") or {}),
        "ports": bindings_text(host.get("PortBindings")),
        "volumes": sorted(host.get("Binds") or []),
        "restart": restart_policy(policy.get("Name", ""), policy.get("MaximumRetryCount", 0)),
    }


def differences(want: Mapping[str, Any], have: Mapping[str, Any]) -> list[str]:
    """One line per field that differs; for env and labels the names that do, no values."""
    found = []
    for name in FIELDS:
        if want[name] == have[name]:
            continue
        if name in ("env", "labels"):
            keys = want[name].keys() | have[name].keys()
            names = sorted(k for k in keys if want[name].get(k) != have[name].get(k))
            found.append(f"{name}: {', '.join(names)} differ")
        elif name == "image_id":
            if want["image"] != have["image"]:
                continue  # said already
            found.append(
                f"image: {want['image']} is now {want['image_id']},"
                f" the container runs {have['image_id']}"
            )
        else:
            found.append(f"{name}: {have[name]!r} wanted {want[name]!r}")
    return found


def shown(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A configuration for a diff: env values masked."""
    if spec is None:
        return None
    return {**spec, "env": dict.fromkeys(sorted(spec["env"]), REDACTED)}


def create_body(params: ContainerCreateParams) -> dict[str, Any]:
    """The body of ``POST /containers/create`` (Docker lays the image's defaults under it)."""
    port_bindings: dict[str, list[dict[str, str]]] = {}
    for port in params.ports:
        port_bindings.setdefault(_port_key(port), []).append(
            {"HostIp": port.host_ip, "HostPort": str(port.host_port or "")}
        )
    body: dict[str, Any] = {
        "Image": params.image,
        "Env": [f"{name}={value}" for name, value in (params.env or {}).items()],
        "Labels": params.labels,
        "ExposedPorts": {key: {} for key in port_bindings},
        "HostConfig": {
            "Binds": [_bind(v) for v in params.volumes],
            "PortBindings": port_bindings,
            "RestartPolicy": {"Name": params.restart, "MaximumRetryCount": params.restart_retries},
        },
    }
    if params.command is not None:
        body["Cmd"] = params.command
    return body


def inspected(container: Mapping[str, Any]) -> dict[str, Any]:
    """``docker.container.inspect``'s result from Docker's inspect; env by name only."""
    spec = current(container)
    state = container.get("State") or {}
    return {
        "id": container.get("Id", ""),
        "name": container.get("Name", "").lstrip("/"),
        "image": spec["image"],
        "image_id": spec["image_id"],
        "created": container.get("Created", ""),
        "state": {
            "status": state.get("Status", ""),
            "running": bool(state.get("Running")),
            "paused": bool(state.get("Paused")),
            "restarting": bool(state.get("Restarting")),
            "exit_code": state.get("ExitCode", 0),
            "pid": state.get("Pid", 0),
            "started_at": state.get("StartedAt", ""),
            "finished_at": state.get("FinishedAt", ""),
            "error": state.get("Error", ""),
        },
        "command": spec["command"],
        "env": sorted(spec["env"]),
        "labels": spec["labels"],
        "ports": spec["ports"],
        "volumes": spec["volumes"],
        "restart": spec["restart"],
        "restart_count": container.get("RestartCount", 0),
    }
