from __future__ import annotations

import pytest

from common.errors import InvalidRequest
from common.operations.catalog import add_families
from common.operations.declaration import Declaration, Family, NoParams
from controller.api.bodies import validate_submit
from tests.catalogs import restored_tables


def submit(body: bytes) -> object:
    return validate_submit(body, default_timeout=30.0, max_timeout=3600.0)


def test_valid_submit_gets_defaults() -> None:
    result = submit(b'{"operation": {"type": "test.ping"}}')
    assert str(result.target) == "_any"  # type: ignore[attr-defined]
    assert result.timeout == 30.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{nope", "JSON"),
        (b"[]", "object"),
        (b'{"target": "_all"}', "operation"),
        (b'{"operation": {"type": 5}}', "operation.type"),
        (b'{"operation": {"type": "test.ping"}, "timeout": "5"}', "timeout"),
        (b'{"operation": {"type": "test.ping"}, "timeout": -1}', "timeout"),
        (b'{"operation": {"type": "test.ping"}, "target": "a b"}', "target"),
        (b'{"operation": {"type": "test.ping"}, "colour": "red"}', "colour"),
        (b'{"operation": {"type": "no.such.op"}}', "no.such.op"),
        (b'{"operation": {"type": "test.sleep", "data": {"seconds": "x"}}}', "seconds"),
    ],
)
def test_bad_submit_is_400_naming_the_field(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        submit(body)
    assert fragment in caught.value.details


def test_dry_run_is_read_and_refused_for_a_mutation_without_one() -> None:
    dry = submit(
        b'{"operation": {"type": "command.exec", "data": {"argv": ["true"]}}, "dry_run": true}'
    )
    assert dry.dry_run is True  # type: ignore[attr-defined]
    assert submit(b'{"operation": {"type": "test.ping"}}').dry_run is False  # type: ignore[attr-defined]
    no_dry = Declaration(
        name="demo.write",
        params=NoParams,
        result=None,
        kind="mutate",
        summary="Writes.",
        description="Knows no dry run.",
    )
    with restored_tables():
        add_families([Family(name="demo", summary="s", declarations=(no_dry,))])
        assert submit(b'{"operation": {"type": "demo.write"}}') is not None
        with pytest.raises(InvalidRequest) as caught:
            submit(b'{"operation": {"type": "demo.write"}, "dry_run": true}')
    assert caught.value.details == "dry_run: demo.write does not support dry run"
