"""The ``certificate`` family's declarations: local CAs in the host's trust store. Pure: no I/O.

A certificate is given as PEM text; :func:`pem_der` checks it here, at
submit, so a private key or a truncated paste is a 400 naming
``operation.data.content`` rather than a broken trust store.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, NoParams, Params, doc

# "(?!\n)$": Python's "$" would accept a final newline, JSON Schema's would not.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}(?!\n)$"
PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)
MAX_PEM = 64 * 1024

Layout = Literal["debian", "rhel"]

# A real (self-signed, EC P-256) certificate, so that the example validates.
EXAMPLE_PEM = """-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUdp5d8r++qwaaWhIeVdEq5g8tk70wCgYIKoZIzj0EAwIw
LDEYMBYGA1UEAwwPZXhhbXBsZS1yb290IENBMRAwDgYDVQQKDAdFeGFtcGxlMB4X
DTI2MTIwMzExMTc1N1oXDTM2MTEzMDExMTc1N1owLDEYMBYGA1UEAwwPZXhhbXBs
ZS1yb290IENBMRAwDgYDVQQKDAdFeGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEY0mbkOTq4KfqybamS6mU2f4v+hmY2gtuNO+mCxDeuuDL5n+zQdFi9Gib
ZNrY8w5K2x7ivhEuGTi6qzZPldP31qNTMFEwHQYDVR0OBBYEFB2j0IxY257ni4pu
/C+U/VVzRChgMB8GA1UdIwQYMBaAFB2j0IxY257ni4pu/C+U/VVzRChgMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgS9S0biFe8QKRdJEQCabJd0a3
u4mhdjP3QjVxwvakRLgCIQDT+3G5NiXS7/S7/yPzsGDyI6Z3htdkSODOUKY9edWP
4g==
-----END CERTIFICATE-----
"""


# Any PEM private key header, whatever its algorithm (PKCS#8, RSA, EC, OpenSSH).
PRIVATE_KEY_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY")


def pem_der(content: str) -> bytes:
    """The DER bytes of the one certificate ``content`` holds; ValueError saying what is wrong."""
    if PRIVATE_KEY_RE.search(content):
        raise ValueError("content holds a private key; give the certificate alone")
    blocks = PEM_RE.findall(content)
    if len(blocks) != 1:
        raise ValueError(f"content must hold exactly one PEM certificate, found {len(blocks)}")
    try:
        der = base64.b64decode("".join(blocks[0].split()), validate=True)
    except binascii.Error:
        raise ValueError("content: the PEM certificate is not valid base64") from None
    if len(der) < 64 or der[0] != 0x30:  # an X.509 certificate is a DER SEQUENCE
        raise ValueError("content: the PEM block is not a DER certificate")
    return der


def normal_pem(content: str) -> str:
    """The PEM block alone with a final newline: what is written, so reruns compare equal."""
    match = PEM_RE.search(content)
    assert match is not None  # checked by pem_der at validation
    lines = "".join(match["body"].split())
    body = "\n".join(lines[i : i + 64] for i in range(0, len(lines), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]


class AddParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[Name, doc("The file's name in the store, without `.crt`.")]
    content: Annotated[
        str, msgspec.Meta(max_length=MAX_PEM), doc("One PEM certificate (no private key).")
    ]

    def __post_init__(self) -> None:
        pem_der(self.content)


class RemoveParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[Name, doc("The name it was added under.")]


class Result(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the certificate results: a handler's dict with a key too many fails its test."""


class Certificate(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, doc("The file's path under the store's directory, without `.crt`.")]
    path: str
    sha256: Annotated[str | None, doc("Of the DER certificate, lower case hex; null: not PEM.")]
    subject: Annotated[str | None, doc("RFC 2253; null without openssl or not PEM.")] = None
    issuer: str | None = None
    not_after: Annotated[str | None, doc("RFC 3339, UTC.")] = None
    error: Annotated[str | None, doc("Why the file is not a usable certificate.")] = None


class ListResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    layout: Annotated[Layout, doc("`debian` (update-ca-certificates) or `rhel` (update-ca-trust).")]
    directory: str
    certificates: list[Certificate]


class ChangeResult(Result, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    path: str
    diff: Annotated[str, doc("Unified diff of the file; empty when nothing changes.")]
    updated: Annotated[bool, doc("Whether the store's update tool ran.")]


_WHERE = (
    " The store is /usr/local/share/ca-certificates (`update-ca-certificates`, Debian and"
    " Ubuntu) or /etc/pki/ca-trust/source/anchors (`update-ca-trust`, the RHEL family);"
    " skipped on a host with neither tool."
)

FAMILY = Family(
    name="certificate",
    summary="Local certificate authorities in the host's trust store.",
    declarations=(
        Declaration(
            name="certificate.list",
            params=NoParams,
            result=ListResult,
            kind="read",
            summary="The local CA certificates, with subject, issuer, expiry, fingerprint.",
            description=(
                "Every `.crt` (and on RHEL `.pem`, `.cer`) file in the store's local directory,"
                " whoever put it there. Subject, issuer and expiry come from `openssl x509`"
                " when openssl is installed; the fingerprint is always computed." + _WHERE
            ),
        ),
        Declaration(
            name="certificate.add",
            params=AddParams,
            result=ChangeResult,
            kind="mutate",
            summary="Trust a CA certificate: write it to the store and update the store.",
            description=(
                "Writes `<name>.crt` (mode 0644) atomically when its content differs, then"
                " runs the store's update tool; the same certificate again changes nothing"
                " and runs nothing. Should the tool fail, the file is put back as it was." + _WHERE
            ),
            example={"name": "example-root", "content": EXAMPLE_PEM},
            dry_run=True,
        ),
        Declaration(
            name="certificate.remove",
            params=RemoveParams,
            result=ChangeResult,
            kind="mutate",
            summary="Stop trusting a CA certificate added under that name.",
            description=(
                "Removes `<name>.crt` and runs the store's update tool; absent: nothing"
                " changes and nothing runs." + _WHERE
            ),
            example={"name": "example-root"},
            dry_run=True,
        ),
    ),
)
