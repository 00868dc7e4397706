"""Redaction's walk on any structure: the same answer as the plain recursive
rule where that one works, and bounded, never recursing, where it would not.

Deep values are what a compromised agent could send as a result, or a log
call could carry: thousands of levels, where a recursive walk, ``==`` and
msgspec's encoders all run out of stack.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from common.limits import MAX_NESTING
from common.messages import ENCODER, EVENT_DECODER, Completed, event_id
from common.redaction import REDACTED, TOO_DEEP, Redactor, redact_results

REDACTOR = Redactor()
KEYS = st.sampled_from(["a", "b", "port", "password", "api_token", "Secret", "host"])
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5)
SHALLOW = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(KEYS | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=25,
)
JOB_ID = "7a0c2f7e-2b8e-4c44-9d0e-5b8f0b1c9e21"


def reference(redactor: Redactor, value: Any) -> Any:
    """The rule, written the obvious recursive way (fine for shallow values)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if redactor.secret_key(k) else reference(redactor, v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [reference(redactor, v) for v in value]
    return value


def depth(value: Any) -> int:
    """Levels of containers, without recursion: a scalar is 0."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, above = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, above + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, above + 1) for v in item)
        else:
            deepest = max(deepest, above)
    return deepest


def chain(levels: int, kinds: list[str], secret_at: int | None) -> Any:
    """``levels`` nested containers (dicts and lists in the ``kinds`` cycle), built
    without recursion; the dict at ``secret_at`` also holds a ``password``."""
    value: Any = "leaf"
    for level in reversed(range(levels)):
        if kinds[level % len(kinds)] == "dict":
            value = {"next": value, "port": level}
            if level == secret_at:
                value["password"] = "hunter2"
        else:
            value = [level, value]
    return value


def walk_down(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = value["next"] if isinstance(value, dict) else value[1]
    return value


@given(value=SHALLOW)
def test_a_shallow_value_is_redacted_as_the_recursive_rule_says(value: Any) -> None:
    clean, changed = REDACTOR.copy(value)
    assert clean == reference(REDACTOR, value)
    assert REDACTOR.value(value) == clean
    assert changed == (clean != reference(Redactor([r"(?!)"]), value))


@given(
    levels=st.integers(0, 20_000),
    kinds=st.lists(st.sampled_from(["dict", "list"]), min_size=1, max_size=5),
    secret_at=st.none() | st.integers(0, 2 * MAX_NESTING),
)
def test_any_depth_is_copied_to_the_limit_and_cut_below_it(
    levels: int, kinds: list[str], secret_at: int | None
) -> None:
    value = chain(levels, kinds, secret_at)
    clean, changed = REDACTOR.copy(value)

    assert depth(clean) == min(levels, MAX_NESTING)
    # What is kept encodes and decodes again, however deep the input was.
    assert msgspec.json.decode(msgspec.json.encode(clean)) == clean
    kept = min(levels, MAX_NESTING)
    if levels > MAX_NESTING:
        assert walk_down(clean, kept) == TOO_DEEP
    else:
        assert walk_down(clean, kept) == "leaf"
    shown_secret = (
        secret_at is not None and secret_at < kept and kinds[secret_at % len(kinds)] == "dict"
    )
    if shown_secret:
        assert walk_down(clean, secret_at)["password"] == REDACTED  # type: ignore[arg-type]
    assert changed == (levels > MAX_NESTING or shown_secret)


def test_a_deep_result_is_stored_cut_and_decodes_again() -> None:
    deep = chain(10_000, ["list"], None)
    event = Completed(
        event_id=event_id(JOB_ID, "web-1.example", 1, "completed"),
        job_id=JOB_ID,
        hostname="web-1.example",
        timestamp=1.7e9,
        result=deep,
    )
    ((stored, blob),) = redact_results(REDACTOR, [(event, b"original")])
    assert blob != b"original"
    assert EVENT_DECODER.decode(blob) == stored
    assert isinstance(stored, Completed)
    assert depth(stored.result) == MAX_NESTING


def test_a_clean_result_keeps_its_blob() -> None:
    event = Completed(
        event_id=event_id(JOB_ID, "web-1.example", 1, "completed"),
        job_id=JOB_ID,
        hostname="web-1.example",
        timestamp=1.7e9,
        result={"hostname": "web-1.example", "nested": [[{"port": 22}]]},
    )
    blob = ENCODER.encode(event)
    assert redact_results(REDACTOR, [(event, blob)]) == [(event, blob)]
