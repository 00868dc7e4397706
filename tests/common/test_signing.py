from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec as ec_key

from common.messages import SignedJob
from common.signing import (
    SignatureError,
    Signer,
    Verifier,
    generate,
    key_id,
    load_private,
    load_public,
    load_verify_keys,
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


def test_raw_verify_keys_match_what_cryptography_reads(tmp_path: Path) -> None:
    key, pub = write_keypair(tmp_path)
    private = load_private(str(key))
    [raw] = load_verify_keys(str(pub))
    assert key_id(raw) == key_id(private.public_key()) == key_id(load_public(str(pub))[0])
    assert Verifier([raw]).verify(Signer(private).sign(b"job")) == b"job"


def test_a_public_key_file_with_another_kind_of_key_is_refused(tmp_path: Path) -> None:
    ec = ec_key.generate_private_key(ec_key.SECP256R1()).public_key()
    path = tmp_path / "ec.pub"
    path.write_bytes(
        ec.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not Ed25519"):
        load_verify_keys(str(path))
    path.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ValueError, match="not valid PEM"):
        load_verify_keys(str(path))


def test_an_agent_verifies_without_importing_cryptography() -> None:
    # A fresh interpreter: this test process has cryptography loaded already.
    code = (
        "import sys, agent.server, bench.swarm; "
        "sys.exit(any(m.startswith('cryptography') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
