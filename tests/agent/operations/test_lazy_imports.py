"""An agent holds the libraries of one operation family only once that family runs.

Jinja2 (file templates) and httpx (the Docker Engine API, and the CLI's
client commands) were a fifth of an idle agent's memory (docs/performance.md,
"A lighter idle agent"): the agent imports every handler at start, and starts
from the CLI, so those modules import them on first use.
"""

from __future__ import annotations

import subprocess
import sys

LAZY = ("jinja2", "httpx")


def test_the_agent_every_handler_and_the_cli_import_without_jinja2_or_httpx() -> None:
    check = (
        "import sys\n"
        "import agent.daemon, agent.operations.registry, cli.main\n"
        f"held = [name for name in {LAZY!r} if name in sys.modules]\n"
        "assert held == [], held\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True)
