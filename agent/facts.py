"""Facts an agent reports about its host in every heartbeat. Does I/O (reads /proc, /etc).

Collected once at start-up and reused: nothing here changes while the agent
runs, except across a reboot, which restarts the agent anyway. A fact that
cannot be read is left at its default rather than stopping the agent.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence

from agent.operations import node
from agent.operations.base import OperationFailed
from common.messages import Facts


def _memory_total() -> int:
    try:
        return node.meminfo().get("MemTotal", 0)
    except OperationFailed:
        return 0


def _boot_time() -> float:
    try:
        return node.boot_time()
    except (OperationFailed, ValueError, IndexError):
        return 0.0


def collect_facts(operations: Sequence[str], max_concurrency: int, version: str) -> Facts:
    uname = platform.uname()
    return Facts(
        os=uname.system,
        os_release=node.os_release().get("PRETTY_NAME", ""),
        kernel=uname.release,
        arch=uname.machine,
        cpu_count=os.cpu_count() or 0,
        memory_total=_memory_total(),
        boot_time=_boot_time(),
        agent_version=version,
        python=platform.python_version(),
        operations=sorted(operations),
        max_concurrency=max_concurrency,
        dry_run=True,
    )
