"""Tests for common/operations/plugins.py, with the example plugin the test set-up installs.

`make test` installs examples/corral-example (the Makefile's install step);
its entry point ``example`` declares the ``example`` family.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from common.operations import plugins
from common.operations.declaration import Family


def test_the_example_plugin_is_installed_and_loads() -> None:
    assert "example" in plugins.installed()
    family = plugins.load("example")
    assert isinstance(family, Family)
    assert [d.name for d in family.declarations] == ["example.greeting.get"]
    assert family.handlers == "corral_example.handlers:HANDLERS"
    assert "example" in [f.name for f in plugins.load_all()]


def test_a_family_nobody_declares_is_named() -> None:
    with pytest.raises(plugins.PluginError, match="declares the operation family 'nope'"):
        plugins.load("nope")


def point(name: str, value: str) -> dict[str, EntryPoint]:
    return {name: EntryPoint(name=name, value=value, group=plugins.GROUP)}


def test_an_entry_point_that_is_not_a_family_is_refused() -> None:
    with pytest.raises(plugins.PluginError, match="is not the Family named 'odd'"):
        plugins.load("odd", point("odd", "common.operations.test:EchoParams"))


def test_a_family_under_another_name_is_refused() -> None:
    with pytest.raises(plugins.PluginError, match="is not the Family named 'alias'"):
        plugins.load("alias", point("alias", "common.operations.node:FAMILY"))


def test_a_plugin_that_fails_to_import_is_named() -> None:
    with pytest.raises(
        plugins.PluginError, match=r"'gone' \(no_such_module:FAMILY\) does not load"
    ):
        plugins.load("gone", point("gone", "no_such_module:FAMILY"))
