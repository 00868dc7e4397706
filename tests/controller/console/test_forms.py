"""Tests for controller/console/forms.py: fields from real catalog schemas, and read back."""

from __future__ import annotations

import pytest

from common.errors import InvalidRequest
from controller.api.operations import catalog
from controller.console.forms import Field, fields_of, params_from, target_from, timeout_from


def schema_of(name: str) -> dict[str, object]:
    [found] = [op.params_schema for op in catalog().items if op.name == name]
    return found


def by_name(fields: list[Field]) -> dict[str, Field]:
    return {f.name: f for f in fields}


def test_every_catalog_operation_gets_a_form() -> None:
    for op in catalog().items:
        fields = fields_of(op.params_schema)
        assert all(
            f.kind in {"text", "choice", "integer", "number", "boolean", "lines", "json"}
            for f in fields
        ), op.name


def test_a_number_field_keeps_its_bounds_and_is_required() -> None:
    [seconds] = fields_of(schema_of("test.sleep"))
    assert (seconds.name, seconds.kind, seconds.required) == ("seconds", "number", True)
    assert (seconds.minimum, seconds.maximum) == (0, 3600)


def test_an_optional_string_is_unwrapped_from_its_null_alternative() -> None:
    [path] = fields_of(schema_of("node.disk.get"))
    assert (path.kind, path.required, path.default) == ("text", False, None)


def test_an_array_of_strings_is_one_per_line_and_read_back_as_a_list() -> None:
    fields = by_name(fields_of(schema_of("command.exec")))
    assert fields["argv"].kind == "lines"
    data = params_from([fields["argv"]], {"param.argv": "ls\n  -l \n\n/tmp\n"})
    assert data == {"argv": ["ls", "-l", "/tmp"]}


def test_an_untyped_field_is_json() -> None:
    [data] = fields_of(schema_of("test.echo"))
    assert data.kind == "json"
    assert params_from([data], {"param.data": '{"a": [1, 2]}'}) == {"data": {"a": [1, 2]}}
    with pytest.raises(InvalidRequest, match="data: not JSON"):
        params_from([data], {"param.data": "{nope"})


def test_numbers_are_typed_and_empty_fields_are_left_to_their_defaults() -> None:
    fields = [
        Field(name="n", kind="integer", description="", required=False, default=None),
        Field(name="x", kind="number", description="", required=False, default=None),
        Field(name="s", kind="text", description="", required=False, default="d"),
        Field(name="b", kind="boolean", description="", required=False, default=True),
    ]
    assert params_from(fields, {"param.n": "3", "param.x": "0.5", "param.s": ""}) == {
        "n": 3,
        "x": 0.5,
        "b": False,  # an unticked box is sent as nothing
    }
    with pytest.raises(InvalidRequest, match=r"n: '3\.5' is not an integer"):
        params_from(fields, {"param.n": "3.5"})
    with pytest.raises(InvalidRequest, match="x: 'nan' is not a number"):
        params_from(fields, {"param.x": "nan"})


def test_the_target_picker_gives_the_api_target_string() -> None:
    assert target_from({"target_kind": "_all"}) == "_all"
    assert target_from({}) == "_any"
    assert target_from({"target_kind": "host", "target_host": "web-1.dev"}) == "web-1.dev"
    assert target_from({"target_kind": "label", "target_label": " group:web "}) == "group:web"
    with pytest.raises(InvalidRequest, match="key:value"):
        target_from({"target_kind": "label", "target_label": "web"})
    with pytest.raises(InvalidRequest, match="must be one of"):
        target_from({"target_kind": "everyone"})


def test_an_empty_timeout_is_the_default_and_a_bad_one_is_refused() -> None:
    assert timeout_from({"timeout": " "}) is None
    assert timeout_from({"timeout": "12.5"}) == 12.5
    with pytest.raises(InvalidRequest, match="timeout"):
        timeout_from({"timeout": "soon"})
