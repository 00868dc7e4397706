"""Key rotation on disk, and sealing of redacted operations. Pure apart from tmp files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.keys import retire_keys, rotate_keys
from common.signing import (
    SignatureError,
    Signer,
    Verifier,
    load_private,
    load_public,
    write_keypair,
)
from controller.jobs.sealing import Sealer, SealError


def test_rotation_pins_old_and_new_keys_until_retired(tmp_path: Path) -> None:
    key, pub = write_keypair(tmp_path)
    old = Signer(load_private(str(key)))
    new_id, pinned = rotate_keys(tmp_path)
    assert pinned == [new_id, old.key_id]
    assert (key.stat().st_mode & 0o777) == 0o600
    new = Signer(load_private(str(key)))
    assert new.key_id == new_id
    during = Verifier(load_public(str(pub)))
    for signer in (old, new):
        assert during.verify(signer.sign(b"job")) == b"job"
    assert retire_keys(tmp_path) == [new_id]
    after = Verifier(load_public(str(pub)))
    assert after.verify(new.sign(b"job")) == b"job"
    with pytest.raises(SignatureError):
        after.verify(old.sign(b"job"))
    assert list(tmp_path.glob(f"controller.key.{old.key_id}.old"))


def test_sealed_operation_opens_only_for_its_job_and_key(tmp_path: Path) -> None:
    key, _ = write_keypair(tmp_path)
    sealer = Sealer(load_private(str(key)))
    sealed = sealer.seal("job-1", b"secret operation")
    assert b"secret" not in sealed
    assert sealer.open("job-1", sealed) == b"secret operation"
    with pytest.raises(SealError):
        sealer.open("job-2", sealed)
    other_key, _ = write_keypair(tmp_path / "other")
    with pytest.raises(SealError):
        Sealer(load_private(str(other_key))).open("job-1", sealed)
    assert sealer.fingerprint(b"a", b"bc") != sealer.fingerprint(b"ab", b"c")
