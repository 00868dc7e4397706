"""Keeping the real value of redacted operation data, unreadable in Redis. Pure.

A job record shows its operation with secrets redacted, but the controller
must be able to sign the real operation again: to republish a job whose
first publish was never acknowledged, or to retry it. So the real
operation is stored *sealed*: AES-256-GCM under a key derived (HKDF-SHA256)
from the controller's Ed25519 signing key, which every controller replica
already holds and Redis never sees. The job id is the associated data, so
a sealed blob cannot be moved onto another job.

The same derived material keys the HMAC that fingerprints request bodies for
idempotency keys, so a stored fingerprint tells nothing about a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common.messages import Operation

_OPERATION = msgspec.msgpack.Decoder(Operation)

_NONCE = 12


class SealError(ValueError):
    """A sealed value that this controller's key cannot open (rotated key, tampering)."""


def _derive(private: Ed25519PrivateKey, info: bytes) -> bytes:
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)


class Sealer:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._aead = AESGCM(_derive(private, b"corral seal v1"))
        self._mac_key = _derive(private, b"corral fingerprint v1")

    def seal(self, job_id: str, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plain, job_id.encode())

    def open(self, job_id: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], job_id.encode())
        except InvalidTag:
            raise SealError(f"job {job_id}: sealed operation cannot be opened") from None

    def real_operation(self, job_id: str, stored: Operation, sealed: bytes | None) -> Operation:
        """The operation as submitted: unsealed if its stored copy was redacted."""
        if sealed is None:
            return stored
        return _OPERATION.decode(self.open(job_id, sealed))

    def fingerprint(self, *parts: bytes) -> str:
        """A keyed digest of ``parts`` (length-prefixed, so boundaries count)."""
        mac = hmac.new(self._mac_key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()
