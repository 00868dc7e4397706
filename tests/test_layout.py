"""Dependencies point one way: which package may import which, and common/'s libraries.

Read statically from every module (tests/imports.py, lazy and type-only
imports included), then checked at run time for what importing the entry
points really loads (subprocesses; no other I/O).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.imports import FIRST_PARTY, ROOT, Import, imports

# The layers (docs/architecture.md): common/ under everything; bus/ on
# common/; the agent and the controller on both, never on each other; the
# SDK on common/ alone; the dev stack, the CLI and the benchmarks on top,
# imported by none of them.
NEVER_IMPORTS = {
    "common": frozenset(FIRST_PARTY) - {"common"},
    "bus": frozenset(FIRST_PARTY) - {"bus", "common"},
    "agent": frozenset({"controller", "devstack", "cli", "bench", "corral_sdk"}),
    "controller": frozenset({"agent", "devstack", "cli", "bench", "corral_sdk"}),
    # The SDK speaks HTTP to the API and shares only its shapes (common/).
    "corral_sdk": frozenset(FIRST_PARTY) - {"corral_sdk", "common"},
}
# Libraries that talk to the network, other processes or a database, or run
# threads: common/ is pure data and rules, and both sides load it.
NETWORK_LIBRARIES = frozenset(
    {"nats", "redis", "hiredis", "starlette", "uvicorn", "httptools", "httpx", "uvloop"}
)
IO_LIBRARIES = NETWORK_LIBRARIES | {
    *("asyncio", "socket", "ssl", "selectors", "http", "urllib", "sqlite3"),
    *("subprocess", "multiprocessing", "signal", "threading", "concurrent"),
}


@pytest.mark.parametrize("package", sorted(NEVER_IMPORTS))
def test_package_imports_only_the_layers_under_it(package: str) -> None:
    wrong = [str(i) for i in imports(package) if i.top in NEVER_IMPORTS[package]]
    assert wrong == []


def test_common_imports_no_io_library() -> None:
    assert [str(i) for i in imports("common") if i.top in IO_LIBRARIES] == []


def test_bus_speaks_only_nats() -> None:
    libraries = {i.top for i in imports("bus") if i.top not in sys.stdlib_module_names}
    assert libraries <= {"bus", "common", "nats", "structlog", "uvloop"}


def test_cli_loads_the_daemons_and_the_dev_stack_only_in_their_commands() -> None:
    """``corral agent`` must not load the controller, nor ``corral job get`` uvicorn."""
    cli = imports("cli")
    eager = [str(i) for i in cli if not i.lazy and _daemon_or_dev(i)]
    assert eager == []
    # devstack/ (the embedded servers and the dev stack) only `corral dev` loads.
    assert all(i.lazy for i in cli if i.top == "devstack")


def _daemon_or_dev(i: Import) -> bool:
    return i.top in {"controller", "agent", "bench", "devstack"}


# -- what importing really loads ---------------------------------------------


def loaded_after(module_names: list[str]) -> set[str]:
    """The top-level names in ``sys.modules`` once a fresh interpreter imported these."""
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in module_names)
        + "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_common_loads_no_io_library_nor_cryptography() -> None:
    """common/signing.py keeps cryptography inside the functions only key owners call."""
    paths = (ROOT / "common").rglob("*.py")
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths]
    # The standard library's I/O modules may load: structlog imports asyncio.
    forbidden = NETWORK_LIBRARIES | {"cryptography", *FIRST_PARTY} - {"common"}
    assert loaded_after(modules) & forbidden == set()


def test_agent_never_loads_the_controller_side() -> None:
    loaded = loaded_after(["cli.main", "agent.server", "agent.daemon"])
    controller_side = {"controller", "devstack", "bench", "starlette", "uvicorn", "redis"}
    assert loaded & (controller_side | {"cryptography"}) == set()


def test_controller_never_loads_the_agent() -> None:
    assert loaded_after(["controller.server"]) & {"agent", "devstack", "bench", "cli"} == set()
