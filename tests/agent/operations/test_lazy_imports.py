"""An agent holds the libraries of one operation family only once that family runs.

Jinja2 (file templates) and httpx (the Docker Engine API) are a tenth of an
idle agent's memory (docs/performance.md, "Idle agent memory"); the agent
imports every handler at start, so their modules import them on first use.
"""

from __future__ import annotations

import subprocess
import sys

LAZY = ("jinja2", "httpx")


def test_the_agent_and_every_handler_import_without_jinja2_or_httpx() -> None:
    check = (
        "import sys\n"
        "import agent.daemon, agent.operations.registry\n"
        f"held = [name for name in {LAZY!r} if name in sys.modules]\n"
        "assert held == [], held\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True)
