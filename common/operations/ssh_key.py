"""The ``ssh_key`` family: authorized_keys lines, their fingerprints, declarations. Pure: no I/O.

A line is ``[options] type base64 [comment]`` (sshd(8), AUTHORIZED_KEYS FILE
FORMAT): options are comma-separated and may hold spaces only inside double
quotes. A key is known by its fingerprint as ``ssh-keygen -lf`` prints it:
``SHA256:`` and the unpadded base64 of the SHA-256 of the key blob.

No result key is named like ``key``: the redaction patterns
(common/redaction.py) would hide its value in every record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Annotated

import msgspec

from common.operations.declaration import Declaration, Family, Params, doc
from common.operations.user import AccountName, whole

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "ssh-dss",
    }
)
FINGERPRINT = "SHA256:[A-Za-z0-9+/]{43}"
LINE_MAX = 16 * 1024  # an RSA 16384-bit key line is about 2.8 KiB


@dataclass(frozen=True)
class KeyLine:
    options: tuple[str, ...]
    type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


def fingerprint(blob: bytes) -> str:
    """As ``ssh-keygen -lf`` prints it (without the bit count and comment)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def parse_line(line: str) -> KeyLine:
    """One authorized_keys line, or ValueError saying what is wrong (never quoting it)."""
    text = line.strip()
    if not text or len(text) > LINE_MAX or "\n" in text or "\0" in text:
        raise ValueError(f"must be one non-empty line of at most {LINE_MAX} characters")
    options: tuple[str, ...] = ()
    if text.split(None, 1)[0] not in KEY_TYPES:
        raw, text = _split_options(text)
        options = tuple(_split_commas(raw))
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(f"must be [options] type base64 [comment], type one of {_types()}")
    kind, encoded = parts[0], parts[1]
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("has a base64 part that does not decode") from None
    if _blob_type(blob) != kind:
        raise ValueError(f"has a key blob that is not a {kind} key")
    return KeyLine(options, kind, blob, parts[2].strip() if len(parts) > 2 else "")


def _types() -> str:
    return ", ".join(sorted(KEY_TYPES))


def _split_options(text: str) -> tuple[str, str]:
    """The options field and the rest: options end at the first whitespace outside quotes."""
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quoted:
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            return text[:i], text[i:].strip()
        i += 1
    raise ValueError("has options but no key" if not quoted else "has an unclosed quote")


def _split_commas(raw: str) -> list[str]:
    found, current, quoted = [], "", False
    for char in raw:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            found.append(current)
            current = ""
        else:
            current += char
    found.append(current)
    if any(not option for option in found):
        raise ValueError("has an empty option")
    return found


def _blob_type(blob: bytes) -> str | None:
    """The type a key blob names in its first string (RFC 4253, 6.6)."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4 : 4 + length]
    return name.decode("ascii", errors="replace") if len(name) == length else None


class ListParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user: Annotated[AccountName, doc("Whose ~/.ssh/authorized_keys (home from /etc/passwd).")]


class AddParams(ListParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line: Annotated[
        str, doc("The public key as an authorized_keys line: [options] type base64 [comment].")
    ]

    def __post_init__(self) -> None:
        try:
            parse_line(self.line)
        except ValueError as exc:
            raise ValueError(f"line {exc}") from None


class RemoveParams(ListParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fingerprint: Annotated[
        str,
        msgspec.Meta(pattern=whole(FINGERPRINT)),
        doc("SHA256:... as `ssh-keygen -lf` and `ssh_key.list` show."),
    ]


class Authorized(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: str
    fingerprint: Annotated[str, doc("SHA256:..., as `ssh-keygen -lf` prints it.")]
    comment: str
    options: Annotated[list[str], doc('As written, e.g. `from="10.0.0.0/8"`, `no-pty`.')]
    line: Annotated[int, doc("Line number in the file, from 1.")]


class KeyListing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user: str
    path: Annotated[str, doc("The authorized_keys file on the host.")]
    authorized: list[Authorized]
    invalid_lines: Annotated[list[int], doc("Lines that are neither keys nor comments.")]


class KeyChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user: str
    path: str
    fingerprint: str
    diff: Annotated[str, doc("Unified diff of the file; empty when unchanged.")]


FAMILY = Family(
    name="ssh_key",
    summary="SSH authorized keys of local users, known by fingerprint.",
    declarations=(
        Declaration(
            name="ssh_key.list",
            params=ListParams,
            result=KeyListing,
            kind="read",
            summary="A user's authorized keys with their fingerprints.",
            description=(
                "Reads ~/.ssh/authorized_keys of the user's home in /etc/passwd: each"
                " key's type, comment, options and SHA256 fingerprint. A missing file"
                " is an empty list."
            ),
            example={"user": "deploy"},
        ),
        Declaration(
            name="ssh_key.add",
            params=AddParams,
            result=KeyChange,
            kind="mutate",
            summary="Authorize a public key for a user.",
            description=(
                "Appends the line unless a key with its fingerprint is there already"
                " (then `changed: false`, or the line is replaced when its options or"
                " comment differ). Creates ~/.ssh (0700) and the file (0600) owned by"
                " the user; writes atomically. The home directory must exist."
            ),
            example={
                "user": "deploy",
                "line": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIImE8Xt7olnbvzTbsthl1c0vjtH1vE8Y"
                "FafcE343d+Hj deploy@laptop",
            },
            dry_run=True,
        ),
        Declaration(
            name="ssh_key.remove",
            params=RemoveParams,
            result=KeyChange,
            kind="mutate",
            summary="Remove a user's authorized key by fingerprint.",
            description="Removes every line with that fingerprint; none is `changed: false`.",
            example={
                "user": "deploy",
                "fingerprint": "SHA256:qrlf7TcS2Izy5PxBTkwlUTpN8ej3lSw3p2Shh225hrc",
            },
            dry_run=True,
        ),
    ),
)
