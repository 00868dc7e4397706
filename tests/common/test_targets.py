from __future__ import annotations

import pytest

from common import subjects
from common.targets import (
    TargetError,
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
