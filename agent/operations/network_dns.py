"""``network.dns.get`` and ``network.dns.update``: resolv.conf or systemd-resolved. I/O: host seam.

/etc/resolv.conf is either a file corral may rewrite, or systemd-resolved's
symlink (into /run/systemd/resolve, or its static stub file), in which case
corral writes a resolved.conf drop-in and restarts the service instead: a
rewritten symlink target would be overwritten by resolved at its next
change. Symlinks are followed inside the host root, never out of it.
"""

from __future__ import annotations

import os
from typing import Literal

from agent.operations.base import OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.declaration import NoParams, OperationResult
from common.operations.network import DnsUpdateParams

RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_DROP_IN = "/etc/systemd/resolved.conf.d/corral.conf"
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"
RESOLVED_STUB = "127.0.0.53"
# Where systemd-resolved's resolv.conf symlinks point (systemd-resolved.service(8)).
RESOLVED_TARGETS = (
    "/run/systemd/resolve/",
    "/usr/lib/systemd/resolv.conf",
    "/lib/systemd/resolv.conf",
)
_KEYWORDS = ("nameserver", "search", "domain")
_MAX_LINKS = 8

ManagedBy = Literal["file", "systemd-resolved"]


def parse_resolv_conf(text: str) -> dict[str, list[str]]:
    """resolv.conf(5): ``nameservers``, ``search`` (the last search or domain line), ``options``."""
    found: dict[str, list[str]] = {"nameservers": [], "search": [], "options": []}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        keyword, rest = words[0], words[1:]
        if keyword == "nameserver" and rest:
            found["nameservers"].append(rest[0])
        elif keyword in ("search", "domain"):
            found["search"] = rest
        elif keyword == "options":
            found["options"].extend(rest)
    return found


def render_resolv_conf(text: str, nameservers: list[str], search: list[str]) -> str:
    """``text`` with its nameserver, search and domain lines replaced where the first stood."""
    new = ([f"search {' '.join(search)}"] if search else []) + [
        f"nameserver {server}" for server in nameservers
    ]
    out: list[str] = []
    placed = False
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in _KEYWORDS:
            if not placed:
                out.extend(new)
                placed = True
            continue
        out.append(line)
    if not placed:
        out.extend(new)
    return "\n".join(out) + "\n"


def symlink_target(host: Host, path: str) -> str | None:
    """Where the host's ``path`` finally points, as a host path; None when not a symlink."""
    target = None
    for _ in range(_MAX_LINKS):
        local = host.file(target or path)
        if not local.is_symlink():
            return target
        link = os.readlink(local)
        base = os.path.dirname(target or path)
        target = os.path.normpath(link if link.startswith("/") else os.path.join(base, link))
    raise OperationFailed(f"{path}: too many levels of symbolic links")


def managed_by(host: Host) -> tuple[ManagedBy, str | None]:
    target = symlink_target(host, RESOLV_CONF)
    if target is not None and target.startswith(RESOLVED_TARGETS):
        return "systemd-resolved", target
    return "file", target


async def dns_get(params: NoParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    manager, target = managed_by(host)
    # Read through the link inside the root: the link is absolute on the host.
    found = parse_resolv_conf(host.read_text(target or RESOLV_CONF) or "")
    stub = RESOLVED_STUB in found["nameservers"]
    upstream = parse_resolv_conf(host.read_text(RESOLVED_UPSTREAM) or "") if stub else None
    return OperationResult(
        data={
            **found,
            "managed_by": manager,
            "resolved_stub": stub,
            "upstream_nameservers": upstream["nameservers"] if upstream else [],
        }
    )


def parse_drop_in(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"nameservers": [], "search": []}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "DNS":
            found["nameservers"] = value.split()
        elif key.strip() == "Domains":
            found["search"] = value.split()
    return found


def render_drop_in(nameservers: list[str], search: list[str]) -> str:
    lines = ["# Written by corral (network.dns.update); changes here are replaced.", "[Resolve]"]
    if nameservers:
        lines.append(f"DNS={' '.join(nameservers)}")
    if search:
        lines.append(f"Domains={' '.join(search)}")
    return "\n".join(lines) + "\n"


async def _update_resolved(params: DnsUpdateParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    host.require_systemd()
    host.require("systemctl")
    before = host.read_text(RESOLVED_DROP_IN)
    now = parse_drop_in(before or "")
    nameservers = now["nameservers"] if params.nameservers is None else params.nameservers
    search = now["search"] if params.search is None else params.search
    after = render_drop_in(nameservers, search)
    written = host.write_file(RESOLVED_DROP_IN, after.encode(), dry_run=ctx.dry_run)
    if written.changed and not ctx.dry_run:
        await host.run(["systemctl", "restart", "systemd-resolved"])
    return _updated(RESOLVED_DROP_IN, "systemd-resolved", nameservers, search, before, after)


async def dns_update(params: DnsUpdateParams, ctx: OperationContext) -> OperationResult:
    host = ctx.host
    manager, target = managed_by(host)
    if manager == "systemd-resolved":
        return await _update_resolved(params, ctx)
    if target is not None:
        raise OperationFailed(
            f"{RESOLV_CONF} is a symlink to {target}, kept by another tool; corral changes"
            " it only as a plain file or through systemd-resolved"
        )
    before = host.read_text(RESOLV_CONF)
    now = parse_resolv_conf(before or "")
    nameservers = now["nameservers"] if params.nameservers is None else params.nameservers
    search = now["search"] if params.search is None else params.search
    after = before
    # Compared by meaning: an equal file written another way (domain for search) stays.
    if (nameservers, search) != (now["nameservers"], now["search"]) or before is None:
        after = render_resolv_conf(before or "", nameservers, search)
        host.write_file(RESOLV_CONF, after.encode(), dry_run=ctx.dry_run)
    return _updated(RESOLV_CONF, "file", nameservers, search, before, after)


def _updated(
    path: str,
    manager: ManagedBy,
    nameservers: list[str],
    search: list[str],
    before: str | None,
    after: str | None,
) -> OperationResult:
    data = {
        "nameservers": nameservers,
        "search": search,
        "file": path,
        "managed_by": manager,
        "diff": unified(path, before, after),
    }
    return OperationResult(data=data, changed=before != after)
