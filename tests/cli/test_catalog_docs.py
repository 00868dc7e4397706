"""docs/catalog.md is what ``corral operation docs`` prints now (cli/catalog_docs.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from click.testing import CliRunner

from cli.catalog_docs import render_catalog
from cli.main import main
from common.operations.catalog import BUILTIN, BUILTIN_FAMILIES

CATALOG = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def test_docs_catalog_is_current() -> None:
    """Stale? Run: corral operation docs > docs/catalog.md"""
    result = CliRunner().invoke(main, ["operation", "docs"])
    assert result.exit_code == 0
    assert result.stdout == CATALOG.read_text(), "run: corral operation docs > docs/catalog.md"


def test_the_catalog_documents_every_builtin_operation() -> None:
    text = render_catalog(BUILTIN_FAMILIES)
    for name, spec in BUILTIN.items():
        assert f"### {name}\n" in text
        assert f"`{spec.scope}`" in text


def test_a_changed_declaration_makes_it_stale() -> None:
    family = BUILTIN_FAMILIES[0]
    first = family.declarations[0]
    changed = dataclasses.replace(first, summary="Something else.")
    edited = dataclasses.replace(family, declarations=(changed, *family.declarations[1:]))
    assert render_catalog([edited, *BUILTIN_FAMILIES[1:]]) != CATALOG.read_text()
