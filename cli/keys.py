"""Signing key rotation on disk. I/O: the key directory.

``NAME.key`` is the controller's current private key; ``NAME.pub`` is the
bundle agents pin: the current public key first, then the ones it replaced,
so agents accept jobs signed by either during a rotation. The replaced
private key is kept as ``NAME.key.<key id>.old`` (mode 0600) until deleted
by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.signing import generate, key_id, load_private, load_public, private_pem, public_pem


def _write_private(path: Path, pem: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    tmp.replace(path)


def rotate_keys(directory: Path, name: str = "controller") -> tuple[str, list[str]]:
    """Make a new current key; returns its id and the ids the bundle pins."""
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    old = load_private(str(key_path))
    pinned = load_public(str(pub_path)) if pub_path.exists() else [old.public_key()]
    _write_private(directory / f"{name}.key.{key_id(old.public_key())}.old", private_pem(old))
    new = generate()
    bundle = [new.public_key(), *pinned]
    # Public first, private second: an agent never sees jobs from an unpinned key.
    pub_path.write_bytes(b"".join(public_pem(k) for k in bundle))
    _write_private(key_path, private_pem(new))
    return key_id(new.public_key()), [key_id(k) for k in bundle]


def retire_keys(directory: Path, name: str = "controller") -> list[str]:
    """Pin only the current key again, once the old one signs nothing pending."""
    current = load_private(str(directory / f"{name}.key")).public_key()
    (directory / f"{name}.pub").write_bytes(public_pem(current))
    return [key_id(current)]
