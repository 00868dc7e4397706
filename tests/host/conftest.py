"""The host tests change the machine they run on: only with CORRAL_HOST_TEST=1 (make host-test)."""

from __future__ import annotations

import os

import pytest

ASKED = os.environ.get("CORRAL_HOST_TEST") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="changes this machine: run `make host-test` on a disposable one")
    for item in items:
        if "tests/host/" in str(item.path) and not ASKED:
            item.add_marker(skip)
