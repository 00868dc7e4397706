"""The target grammar: parsing, whole-name matching, hierarchical labels."""

from __future__ import annotations

import pytest

from common import subjects
from common.targets import (
    TargetError,
    check_labels,
    is_hostname,
    label_matches,
    parse_labels,
    parse_target,
    resolve_expected,
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("_any", "any"),
        ("_all", "all"),
        ("web-1.dev.local", "host"),
        ("group:web", "label"),
        ("group:web.prod", "label"),
    ],
)
def test_parse_target_recognises_each_kind(text: str, kind: str) -> None:
    target = parse_target(text)
    assert target.kind == kind
    assert str(target) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "_some",
        "web 1",
        "group:",
        ":web",
        "group:web..prod",
        "a*b",
        "x>y",
        "-leading",
        "group:we b",
    ],
)
def test_parse_target_rejects_bad_syntax_with_a_reason(text: str) -> None:
    with pytest.raises(TargetError):
        parse_target(text)


def test_label_match_is_hierarchical_not_prefix() -> None:
    assert label_matches("web.prod", "web")
    assert label_matches("web", "web")
    assert not label_matches("webby", "web")
    assert not label_matches("web", "web.prod")
    assert not label_matches(None, "web")


def test_resolve_expected_picks_matching_agents_sorted() -> None:
    agents = [
        ("web-2", {"group": "web.dev"}),
        ("db-1", {"group": "db.dev"}),
        ("web-1", {"group": "web.prod"}),
    ]
    assert resolve_expected(parse_target("group:web"), agents) == ["web-1", "web-2"]
    assert resolve_expected(parse_target("_all"), agents) == ["db-1", "web-1", "web-2"]
    assert resolve_expected(parse_target("group:web.dev"), agents) == ["web-2"]


def test_target_subject_is_one_the_matching_agent_listens_on() -> None:
    labels = {"group": "web.prod"}
    listened = subjects.agent_job_subjects("web-1.x", labels)
    for text in ["_all", "web-1.x", "group:web", "group:web.prod"]:
        assert parse_target(text).subject() in listened
    assert parse_target("group:db").subject() not in listened


def test_parse_labels_rejects_pairs_without_equals() -> None:
    assert parse_labels(["group=web.dev", "env=prod"]) == {"group": "web.dev", "env": "prod"}
    with pytest.raises(TargetError):
        parse_labels(["group"])


NOT_WHOLE = ["web-9\n", "web-9\r\n", "web-9\nweb-8", "\nweb-9", "web-9\x00"]


@pytest.mark.parametrize("name", NOT_WHOLE)
def test_a_hostname_is_matched_whole_not_up_to_a_newline(name: str) -> None:
    assert not is_hostname(name)
    with pytest.raises(TargetError, match="is not _any, _all, a hostname"):
        parse_target(name)


@pytest.mark.parametrize(
    ("text", "culprit"),
    [("group:web\n", "label value"), ("group\n:web", "label key"), ("group:web.prod\n", "value")],
)
def test_a_label_target_is_matched_whole(text: str, culprit: str) -> None:
    with pytest.raises(TargetError, match=culprit):
        parse_target(text)


@pytest.mark.parametrize("pair", ["group=web\n", "group\n=web", "env=prod\n"])
def test_label_flags_and_an_agents_labels_are_matched_whole(pair: str) -> None:
    with pytest.raises(TargetError):
        parse_labels([pair])
    key, _, value = pair.partition("=")
    with pytest.raises(TargetError):
        check_labels({"ok": "fine", key: value})
    check_labels({"group": "web.prod", "env": "prod"})
