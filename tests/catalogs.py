"""Tests that add operation families get the process's tables back afterwards. No I/O.

The operation table (common/operations/catalog.py) and the handler table
(agent/operations/registry.py) only grow at a daemon's start; a test that
grows them (a made-up family, a plugin bound) restores both on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agent.operations import registry
from common.operations import catalog


@contextmanager
def restored_tables() -> Iterator[None]:
    operations, families = dict(catalog.OPERATIONS), dict(catalog.FAMILIES)
    handlers = dict(registry.HANDLERS)
    try:
        yield
    finally:
        catalog.OPERATIONS.clear()
        catalog.OPERATIONS.update(operations)
        catalog.FAMILIES.clear()
        catalog.FAMILIES.update(families)
        registry.HANDLERS.clear()
        registry.HANDLERS.update(handlers)
