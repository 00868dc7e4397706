"""Tests for common/operations/declaration.py: what a declaration holds and its checks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from common.operations.declaration import (
    Declaration,
    Family,
    NoParams,
    Params,
    check_family,
    family_scope,
)


class NameParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str


def declaration(name: str = "demo.thing.get", **changes: Any) -> Declaration:
    values: dict[str, Any] = {
        "name": name,
        "params": NoParams,
        "result": None,
        "kind": "read",
        "summary": "One line.",
        "description": "More.",
    }
    return Declaration(**{**values, **changes})


def test_family_and_scope_come_from_the_name_and_kind() -> None:
    read = declaration("ssh_key.list")
    assert (read.family, read.scope, read.read_only) == ("ssh_key", "ssh_key:read", True)
    mutate = declaration("service.restart", kind="mutate")
    assert (mutate.family, mutate.scope, mutate.read_only) == ("service", "service:write", False)
    assert family_scope("node", "mutate") == "node:write"


def test_reads_may_always_dry_run_mutations_only_when_declared() -> None:
    assert declaration().dry_runnable
    assert not declaration(kind="mutate").dry_runnable
    assert declaration(kind="mutate", dry_run=True).dry_runnable


def test_a_good_family_passes() -> None:
    check_family(Family(name="demo", summary="s", declarations=(declaration(),)))


@pytest.mark.parametrize(
    ("family", "message"),
    [
        (Family(name="Demo", summary="s", declarations=()), "family name 'Demo'"),
        (
            Family(name="demo", summary="s", declarations=(declaration("other.get"),)),
            "'other.get' must be demo.<verb>",
        ),
        (
            Family(name="demo", summary="s", declarations=(declaration("demo.Get"),)),
            "'demo.Get' must be demo",
        ),
        (
            Family(name="demo", summary="s", declarations=(declaration(), declaration())),
            "declared twice",
        ),
        (
            Family(name="demo", summary="s", declarations=(declaration(kind="write"),)),
            "kind must be one of read, mutate",
        ),
        (
            Family(name="demo", summary="s", declarations=(declaration(summary="a\nb"),)),
            "the summary must be one line",
        ),
        (
            Family(name="demo", summary="s", declarations=(declaration(params=dict),)),
            "params must be a subclass of Params",
        ),
        (
            Family(
                name="demo",
                summary="s",
                declarations=(declaration(params=NameParams, example={"nme": "x"}),),
            ),
            "its example does not validate",
        ),
    ],
)
def test_a_bad_family_is_named_with_its_fault(family: Family, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_family(family)


def test_declarations_compare_by_identity_so_they_can_key_caches() -> None:
    first, second = declaration(), declaration()
    assert first != second
    assert len({first, second, first}) == 2
    assert msgspec.json.schema(first.params)["$ref"] == "#/$defs/NoParams"
