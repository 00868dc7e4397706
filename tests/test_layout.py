"""common/ speaks to both sides, so it must not pull in either side's I/O libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("nats", "redis", "starlette", "uvicorn", "controller", "agent")


def imported_after(module_names: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in module_names)
        + "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_common_imports_no_broker_store_or_web_library() -> None:
    modules = [f"common.{p.stem}" for p in (ROOT / "common").glob("*.py") if p.stem != "__init__"]
    loaded = imported_after(modules)
    leaked = {m for m in loaded if m.split(".")[0] in FORBIDDEN}
    assert leaked == set()


def test_agent_never_imports_the_controller() -> None:
    loaded = imported_after(["agent.server", "agent.daemon"])
    assert not {m for m in loaded if m.split(".")[0] in ("controller", "starlette", "redis")}


def test_controller_never_imports_the_agent() -> None:
    loaded = imported_after(["controller.server"])
    assert not {m for m in loaded if m.split(".")[0] == "agent"}
