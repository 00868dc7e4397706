"""Request bodies, pure: strict decoding that names the field, and the nesting limit."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import InvalidRequest
from common.limits import MAX_NESTING
from common.operations.catalog import add_families
from common.operations.declaration import Declaration, Family, NoParams
from controller.api.bodies import nests_deeper, validate_submit
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


PING = '"operation": {"type": "test.ping"}'


@pytest.mark.parametrize(
    ("rollout", "target", "fragment"),
    [
        ('{"batch_size": 0}', "_all", "rollout.batch_size"),
        ('{"batch_size": "0.5"}', "_all", "rollout.batch_size"),
        ('{"batch_size": "101%"}', "_all", "rollout.batch_size"),
        ('{"batch_size": 2, "pause": -1}', "_all", "rollout.pause"),
        ('{"batch_size": 2, "max_failures": -1}', "_all", "rollout.max_failures"),
        ('{"batch_size": 2, "max_failures": "ten%"}', "_all", "rollout.max_failures"),
        ('{"batch_size": 2, "max_concurrency": 0}', "_all", "rollout.max_concurrency"),
        ('{"batch_size": 2, "size": 3}', "_all", "unknown field `size`"),
        ('{"pause": 3}', "_all", "rollout"),
        ('{"batch_size": 2}', "_any", "rollout: needs a broadcast or label target"),
        ('{"batch_size": 2}', "web-1.dev", "rollout: needs a broadcast or label target"),
    ],
)
def test_a_bad_rollout_is_400_naming_its_field(rollout: str, target: str, fragment: str) -> None:
    body = f'{{{PING}, "target": "{target}", "rollout": {rollout}}}'
    with pytest.raises(InvalidRequest) as caught:
        submit(body.encode())
    assert fragment in caught.value.details


def test_a_rollout_on_a_label_target_is_kept_as_submitted() -> None:
    body = f'{{{PING}, "target": "group:web", "rollout": {{"batch_size": "25%", "pause": 5}}}}'
    result = submit(body.encode())
    rollout = result.rollout  # type: ignore[attr-defined]
    assert (rollout.batch_size, rollout.pause, rollout.max_failures) == ("25%", 5.0, None)


def nested(levels: int, inner: str = "1") -> str:
    return (
        "".join("[" if i % 2 else '{"k":' for i in range(levels))
        + inner
        + "".join("]" if i % 2 else "}" for i in reversed(range(levels)))
    )


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


@given(value=JSON, limit=st.integers(0, 8))
def test_nesting_is_measured_as_the_decoder_sees_it(value: object, limit: int) -> None:
    """Brackets and escaped quotes inside strings do not count; every container does."""
    raw = json.dumps(value).encode()
    assert nests_deeper(raw, limit) == (depth_of(value) > limit)


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 10_000, 500_000])
def test_a_body_nested_past_the_limit_is_400_naming_it(levels: int) -> None:
    data = nested(levels - 2)  # inside the body and operation objects
    body = f'{{"operation": {{"type": "test.echo", "data": {data}}}}}'.encode()
    assert nests_deeper(body, MAX_NESTING)
    with pytest.raises(InvalidRequest) as caught:
        submit(body)
    assert f"the limit of {MAX_NESTING} levels" in caught.value.details
    assert caught.value.code == 400


def test_a_body_at_the_limit_is_accepted() -> None:
    inner = nested(MAX_NESTING - 3)  # inside the body, operation and data objects
    body = f'{{"operation": {{"type": "test.echo", "data": {{"data": {inner}}}}}}}'.encode()
    assert depth_of(json.loads(body)) == MAX_NESTING
    assert not nests_deeper(body, MAX_NESTING)
    submit(body)


def test_an_unclosed_string_or_trailing_escape_is_left_to_the_decoder() -> None:
    for body in (b'{"a": "[[[[', b'{"a": "\\', b'{"a": ["\\"[[[["]}'):
        assert not nests_deeper(body, 2)
        with pytest.raises(InvalidRequest):
            submit(body)


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
