"""Batch submit bodies: all-or-nothing validation whose errors name the item and field."""

from __future__ import annotations

import json

import pytest

from common.errors import InvalidRequest
from controller.api.batch import batch_ids, fingerprint, validate_batch

PING = {"operation": {"type": "test.ping"}}


def validate(body: object, max_jobs: int = 3) -> list[object]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return list(validate_batch(raw, default_timeout=30.0, max_timeout=3600.0, max_jobs=max_jobs))


def error_of(body: object, max_jobs: int = 3) -> str:
    with pytest.raises(InvalidRequest) as caught:
        validate(body, max_jobs)
    return caught.value.details


def test_valid_batch_keeps_order_and_gets_defaults() -> None:
    jobs = [PING, {"operation": {"type": "test.echo", "data": {"data": 1}}, "target": "_all"}]
    found = validate_batch(json.dumps({"jobs": jobs}).encode(), 30.0, 3600.0, 3)
    assert [s.operation.type for s in found] == ["test.ping", "test.echo"]
    assert [str(s.target) for s in found] == ["_any", "_all"]
    assert [s.timeout for s in found] == [30.0, 30.0]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"operation": {"type": "test.ping"}, "timeout": "5"}, "jobs[1].timeout: Expected"),
        ({"operation": {"type": "test.ping"}, "timeout": 0}, "jobs[1].timeout: must be > 0"),
        ({"operation": {"type": "nope"}}, "jobs[1].operation.type: unknown operation type 'nope'"),
        (
            {"operation": {"type": "test.sleep", "data": {"seconds": "x"}}},
            "jobs[1].operation.data.seconds: Expected `float`",
        ),
        ({"operation": {"type": "test.ping"}, "target": "a b"}, "jobs[1].target: 'a b' is not"),
        (
            {"operation": {"type": "test.ping"}, "colour": "red"},
            "jobs[1]: Object contains unknown field `colour`",
        ),
        ({"target": "_all"}, "jobs[1]: Object missing required field `operation`"),
        (5, "jobs[1]: Expected `object`, got `int`"),
    ],
)
def test_a_bad_item_is_named_by_index_and_field(item: object, expected: str) -> None:
    details = error_of({"jobs": [PING, item, PING]})
    assert expected in details
    assert "jobs[1]" in details


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"jobs": []}, "jobs: must hold 1 to 3 jobs, got 0"),
        ({"jobs": [PING] * 4}, "jobs: must hold 1 to 3 jobs, got 4"),
        ({"jobs": {}}, "jobs: Expected `array`, got `object`"),
        ({}, "missing required field `jobs`"),
        ({"jobs": [PING], "job": []}, "unknown field `job`"),
        ([PING], "Expected `object`, got `array`"),
        (b"", "request body is empty"),
    ],
)
def test_a_bad_batch_says_what_is_wrong(body: object, expected: str) -> None:
    assert expected in error_of(body)


def test_the_limit_is_the_configured_one() -> None:
    assert len(validate({"jobs": [PING] * 5}, max_jobs=5)) == 5
    assert "1 to 4 jobs" in error_of({"jobs": [PING] * 5}, max_jobs=4)


def test_fingerprint_ignores_key_order_and_explicit_defaults() -> None:
    plain = validate({"jobs": [PING, PING]})
    spelled = validate(
        {
            "jobs": [
                {"timeout": 30, "target": "_any", "operation": {"data": {}, "type": "test.ping"}}
            ]
            * 2
        }
    )
    assert fingerprint(plain) == fingerprint(spelled)  # type: ignore[arg-type]
    assert fingerprint(plain) != fingerprint(plain[:1])  # type: ignore[arg-type]


def test_batch_ids_are_distinct_and_derived_from_the_claim() -> None:
    claimed = "6f1d4e4c-4b7a-4a57-9a59-0d4f8b5f3e21"
    ids = batch_ids(claimed, 100)
    assert len(set(ids)) == 100
    assert ids == batch_ids(claimed, 100)
    assert batch_ids(claimed, 3) == ids[:3]
    assert batch_ids("0f1d4e4c-4b7a-4a57-9a59-0d4f8b5f3e21", 1) != ids[:1]
