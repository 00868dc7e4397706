from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from common.messages import SignedJob
from common.signing import (
    SignatureError,
    Signer,
    Verifier,
    generate,
    load_private,
    load_public,
    write_keypair,
)


def test_signed_payload_verifies_and_tampering_is_refused() -> None:
    private = generate()
    signed = Signer(private).sign(b"payload")
    verifier = Verifier([private.public_key()])
    assert verifier.verify(signed) == b"payload"
    with pytest.raises(SignatureError, match="does not match"):
        verifier.verify(msgspec.structs.replace(signed, payload=b"payloae"))


def test_unsigned_and_unknown_key_are_refused() -> None:
    verifier = Verifier([generate().public_key()])
    with pytest.raises(SignatureError, match="not signed"):
        verifier.verify(SignedJob(payload=b"x"))
    with pytest.raises(SignatureError, match="unknown key"):
        verifier.verify(Signer(generate()).sign(b"x"))


def test_keypair_files_round_trip_and_private_key_is_private(tmp_path: Path) -> None:
    key, pub = write_keypair(tmp_path)
    assert key.stat().st_mode & 0o077 == 0
    signed = Signer(load_private(str(key))).sign(b"job")
    assert Verifier(load_public(str(pub))).verify(signed) == b"job"


def test_rotation_file_with_two_public_keys_accepts_both(tmp_path: Path) -> None:
    _, old_pub = write_keypair(tmp_path, "old")
    new_key, new_pub = write_keypair(tmp_path, "new")
    both = tmp_path / "both.pub"
    both.write_bytes(old_pub.read_bytes() + new_pub.read_bytes())
    verifier = Verifier(load_public(str(both)))
    assert verifier.verify(Signer(load_private(str(new_key))).sign(b"j")) == b"j"


@pytest.mark.parametrize(
    "signature",
    [b"\x00" * 64, b"short", b"\x01" * 65],
    ids=["zeros", "too-short", "too-long"],
)
def test_malformed_signatures_are_refused_not_raised(signature: bytes) -> None:
    private = generate()
    verifier = Verifier([private.public_key()])
    signed = msgspec.structs.replace(Signer(private).sign(b"x"), signature=signature)
    with pytest.raises(SignatureError, match="does not match"):
        verifier.verify(signed)


def test_a_signature_by_another_key_under_a_pinned_key_id_is_refused() -> None:
    pinned, other = generate(), generate()
    forged = msgspec.structs.replace(Signer(other).sign(b"x"), key_id=Signer(pinned).key_id)
    with pytest.raises(SignatureError, match="does not match"):
        Verifier([pinned.public_key()]).verify(forged)
