"""Every import in the repository's packages, read from the source with ``ast``.

No I/O beyond reading the ``.py`` files. Imports inside functions and under
``if TYPE_CHECKING:`` count too: a lazy import is still a dependency, and
the tests that use this say which lazy ones they allow.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("common", "bus", "agent", "controller", "devstack", "cli", "bench", "corral_sdk")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Import:
    source: str  # the importing file, from the repository root: "common/loop.py"
    name: str  # what it imports, dotted from the top: a module or a module's attribute
    lazy: bool  # inside a function: loaded only when that runs

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    def of(self, module: str) -> bool:
        """Whether this imports ``module`` or something inside it."""
        return self.name == module or self.name.startswith(module + ".")

    def __str__(self) -> str:
        return f"{self.source}: {self.name}{' (lazy)' if self.lazy else ''}"


def imports(package: str) -> list[Import]:
    """Every import of every module under ``package/``."""
    found: list[Import] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        source = path.relative_to(ROOT).as_posix()
        module = source.removesuffix(".py").replace("/", ".")
        _collect(ast.parse(path.read_text(), source), source, module, False, found)
    return found


def _collect(node: ast.AST, source: str, module: str, lazy: bool, found: list[Import]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            found += [Import(source, alias.name, lazy) for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = _absolute(child, module)
            found += [Import(source, f"{base}.{alias.name}", lazy) for alias in child.names]
        _collect(child, source, module, lazy or isinstance(child, _FUNCTIONS), found)


def _absolute(node: ast.ImportFrom, module: str) -> str:
    """The module a ``from ... import`` reads, relative imports resolved."""
    if not node.level:
        return node.module or ""
    # "pkg.mod" and "pkg.__init__" both sit in "pkg": one dot goes up to it.
    package = module.split(".")[: -node.level]
    return ".".join([*package, *([node.module] if node.module else [])])
