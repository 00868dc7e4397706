"""The ``certificate.*`` operations: local CAs in the host's trust store. I/O (files, tools).

The layout follows the store's update tool: ``update-ca-certificates``
(Debian, Ubuntu) reads /usr/local/share/ca-certificates (``*.crt``, also in
subdirectories), ``update-ca-trust`` (the RHEL family) reads
/etc/pki/ca-trust/source/anchors. Neither tool: skipped.

Agents do not ship ``cryptography``, so the fingerprint is the SHA-256 of
the DER bytes (common/operations/certificate.py decodes the PEM) and the
subject, issuer and expiry come from ``openssl x509`` where openssl is
installed (it is wherever ca-certificates is, on Debian), else are null.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.operations.base import Handler, OperationContext, OperationFailed
from agent.operations.diff import unified
from agent.operations.host import Host
from common.operations.certificate import AddParams, RemoveParams, normal_pem, pem_der
from common.operations.declaration import NoParams, OperationResult


@dataclass(frozen=True)
class Store:
    layout: str
    directory: str
    suffixes: tuple[str, ...]
    update: tuple[str, ...]


DEBIAN = Store("debian", "/usr/local/share/ca-certificates", (".crt",), ("update-ca-certificates",))
RHEL = Store(
    "rhel",
    "/etc/pki/ca-trust/source/anchors",
    (".crt", ".pem", ".cer"),
    ("update-ca-trust", "extract"),
)


def store_of(host: Host) -> Store:
    found = host.require("update-ca-certificates", "update-ca-trust")
    return DEBIAN if found.endswith("update-ca-certificates") else RHEL


def _not_after(text: str) -> str | None:
    # openssl prints "Nov 30 11:17:57 2036 GMT" (two spaces before a one-digit day).
    try:
        when = datetime.strptime(" ".join(text.split()) + " +0000", "%b %d %H:%M:%S %Y GMT %z")
    except ValueError:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_x509(output: str) -> dict[str, str | None]:
    """``openssl x509 -noout -subject -issuer -enddate -nameopt RFC2253``."""
    fields = dict(line.partition("=")[::2] for line in output.splitlines() if "=" in line)
    return {
        "subject": fields.get("subject"),
        "issuer": fields.get("issuer"),
        "not_after": _not_after(fields["notAfter"]) if "notAfter" in fields else None,
    }


async def describe(host: Host, name: str, path: str, content: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "path": path, "sha256": None}
    try:
        entry["sha256"] = hashlib.sha256(pem_der(content)).hexdigest()
    except ValueError as exc:
        return {**entry, "error": str(exc)}
    if host.which("openssl") is None:
        return entry
    argv = ["openssl", "x509", "-noout", "-subject", "-issuer", "-enddate", "-nameopt", "RFC2253"]
    ran = await host.run(argv, stdin=normal_pem(content), check=False)
    if ran.exit_code != 0:
        return {**entry, "error": f"openssl cannot read it: {ran.reason()}"}
    return {**entry, **parse_x509(ran.stdout)}


def _files(host: Host, store: Store) -> list[Path]:
    top = host.file(store.directory)
    found = top.rglob("*") if store.layout == "debian" else top.glob("*")
    return sorted(p for p in found if p.suffix in store.suffixes and p.is_file())


async def list_certificates(params: NoParams, ctx: OperationContext) -> OperationResult:
    store = store_of(ctx.host)
    top = ctx.host.file(store.directory)
    certificates = []
    for local in _files(ctx.host, store):
        relative = local.relative_to(top)
        path = f"{store.directory}/{relative}"
        content = ctx.host.read_text(path) or ""
        name = str(relative.with_suffix("")) if local.suffix == ".crt" else str(relative)
        certificates.append(await describe(ctx.host, name, path, content))
    return OperationResult(
        data={"layout": store.layout, "directory": store.directory, "certificates": certificates}
    )


async def _update(ctx: OperationContext, store: Store, path: str, before: bytes | None) -> None:
    """Run the store's update tool; should it fail, put the file back as it was."""
    try:
        await ctx.host.run(list(store.update))
    except OperationFailed:
        if before is None:
            ctx.host.remove_file(path)
        else:
            ctx.host.write_file(path, before)
        raise


async def add(params: AddParams, ctx: OperationContext) -> OperationResult:
    store = store_of(ctx.host)
    path = f"{store.directory}/{params.name}.crt"
    content = normal_pem(params.content).encode()
    written = ctx.host.write_file(path, content, mode=0o644, dry_run=ctx.dry_run)
    if written.changed and not ctx.dry_run:
        await _update(ctx, store, path, written.before)
    data = {
        "name": params.name,
        "path": path,
        "diff": unified(path, written.before, content),
        "updated": written.changed and not ctx.dry_run,
    }
    return OperationResult(data=data, changed=written.changed)


async def remove(params: RemoveParams, ctx: OperationContext) -> OperationResult:
    store = store_of(ctx.host)
    path = f"{store.directory}/{params.name}.crt"
    before = ctx.host.remove_file(path, dry_run=ctx.dry_run)
    changed = before is not None
    if changed and not ctx.dry_run:
        await _update(ctx, store, path, before)
    data = {
        "name": params.name,
        "path": path,
        "diff": unified(path, before, None) if changed else "",
        "updated": changed and not ctx.dry_run,
    }
    return OperationResult(data=data, changed=changed)


HANDLERS: dict[str, Handler] = {
    "certificate.list": list_certificates,
    "certificate.add": add,
    "certificate.remove": remove,
}
