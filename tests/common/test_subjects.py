from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import subjects


@given(st.text(min_size=1, max_size=60))
def test_encode_token_round_trips_and_is_one_safe_token(text: str) -> None:
    token = subjects.encode_token(text)
    assert subjects.decode_token(token) == text
    assert not set(token) & set(". *>\t\r\n/\\")


def reference_encoding(text: str) -> str:
    """The escaping spelled out one character at a time."""
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return "".join(c if c in safe else "".join(f"~{b:02X}" for b in c.encode()) for c in text)


@given(st.text(min_size=1, max_size=60))
def test_encode_token_escapes_exactly_the_unsafe_characters(text: str) -> None:
    assert subjects.encode_token(text) == reference_encoding(text)


@pytest.mark.parametrize("token", ["", "~4", "~ZZ", "~2e", "a.b", "a~", "~FF"])
def test_decode_token_refuses_what_encode_token_cannot_make(token: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ValueError or UnicodeDecodeError
        subjects.decode_token(token)


def test_dotted_hostname_becomes_one_token() -> None:
    assert subjects.job_for_host("web-1.dev.local") == "corral.job.host.web-1~2Edev~2Elocal"
    assert subjects.hostname_of_subject("corral.event.web-1~2Edev~2Elocal") == "web-1.dev.local"


def test_label_subjects_cover_every_ancestor_value() -> None:
    assert subjects.label_subjects("group", "web.prod.eu") == [
        "corral.job.label.group.web",
        "corral.job.label.group.web.prod",
        "corral.job.label.group.web.prod.eu",
    ]


def test_agent_listens_on_all_its_own_host_and_its_labels() -> None:
    found = subjects.agent_job_subjects("db-1.dev.local", {"group": "db.dev"})
    assert found == [
        subjects.JOB_ALL,
        "corral.job.host.db-1~2Edev~2Elocal",
        "corral.job.label.group.db",
        "corral.job.label.group.db.dev",
    ]


def test_agent_consumer_name_has_no_dots() -> None:
    assert "." not in subjects.agent_consumer("web-1.dev.local")


def test_an_objects_digest_reads_as_hex() -> None:
    digest = hashlib.sha256(b"x").digest()
    assert subjects.object_sha256("SHA-256=" + base64.urlsafe_b64encode(digest).decode()) == (
        hashlib.sha256(b"x").hexdigest()
    )
    assert subjects.object_sha256("") == subjects.object_sha256("MD5=abc") == ""
    assert subjects.object_sha256("SHA-256=not base64!") == ""
