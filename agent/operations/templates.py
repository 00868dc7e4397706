"""Rendering ``file.deploy`` templates with the host's facts. I/O: reads the host's files.

Jinja2's sandbox with ``StrictUndefined``: a template reaches no Python
internals, and a misspelt name is an error instead of an empty string in a
configuration file. A template sees ``hostname`` (the agent's name) and
``facts``:

- ``hostname``, ``system_hostname`` (the kernel's), ``kernel``, ``arch``,
  ``cpu_count``, ``memory_total`` (bytes);
- ``os``: the host's os-release (under its root), keys lower-cased
  (``facts.os.id``, ``facts.os.version_id``, ``facts.os.pretty_name``...).

Rendering runs in a thread: a heavy template holds up this job, not the agent.
"""

from __future__ import annotations

import asyncio
import functools
import os
import platform
import shlex
import socket
from typing import TYPE_CHECKING, Any

from agent.operations.base import OperationContext, OperationFailed
from agent.operations.host import Host
from agent.operations.node import meminfo

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


@functools.cache
def _environment() -> SandboxedEnvironment:
    # Imported on the first template: an agent that renders none never holds Jinja2.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


def os_release(host: Host) -> dict[str, str]:
    """The host's os-release as lower-case keys; empty if it has none."""
    text = host.read_text("/etc/os-release") or host.read_text("/usr/lib/os-release") or ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep or name.strip().startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue  # an unbalanced quote: not a line os-release(5) allows
        found[name.strip().lower()] = " ".join(words)
    return found


def facts(ctx: OperationContext) -> dict[str, Any]:
    uname = platform.uname()
    return {
        "hostname": ctx.hostname,
        "system_hostname": socket.gethostname(),
        "kernel": uname.release,
        "arch": uname.machine,
        "cpu_count": os.cpu_count() or 0,
        "memory_total": meminfo().get("MemTotal", 0),
        "os": os_release(ctx.host),
    }


def _render(source: str, variables: dict[str, Any]) -> str:
    from jinja2 import TemplateError

    try:
        return _environment().from_string(source).render(variables)
    except TemplateError as exc:
        raise OperationFailed(f"template: {type(exc).__name__}: {exc}") from None


async def render(source: str, ctx: OperationContext) -> str:
    """``source`` rendered with the host's facts, or :class:`OperationFailed` saying why not."""
    variables = {"hostname": ctx.hostname, "facts": facts(ctx)}
    return await asyncio.to_thread(_render, source, variables)
