"""The table from operation type to handler, one entry per built-in operation. No I/O.

A literal dict rather than registration at import, so the full set is
readable here and a test can check it matches ``common.operations.catalog.OPERATIONS``.
"""

from __future__ import annotations

from agent.operations import command, node, test
from agent.operations.base import Handler

HANDLERS: dict[str, Handler] = {
    "test.ping": test.ping,
    "test.echo": test.echo,
    "test.sleep": test.sleep,
    "test.fail": test.fail,
    "test.counter": test.counter,
    "node.hostname.get": node.hostname,
    "node.status.get": node.status,
    "node.uptime.get": node.uptime,
    "node.load.get": node.load,
    "node.memory.get": node.memory,
    "node.disk.get": node.disk,
    "node.os.get": node.operating_system,
    "command.exec": command.exec_command,
}
