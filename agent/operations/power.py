"""The ``power.*`` operations: reboot and power off. I/O: runs ``shutdown`` through the host seam.

``shutdown -r|-P -- +N|now [message]``: every init that ships a ``shutdown``
(systemd's, sysvinit's, busybox's) takes this form, schedules in minutes
and sends the message to logged-in users; a new schedule replaces a
pending one. ``systemctl reboot --when=`` would take seconds but needs
systemd 254, so it is not used. A host without ``shutdown`` but with a
running systemd still gets an immediate ``systemctl reboot|poweroff``
(``--message`` goes to the journal there, not to users); a delayed one is
skipped, as is everything on a host with neither tool. systemd's own
``shutdown`` is ``systemctl`` under another name: where systemd is not
running (a container) it is skipped like systemctl, not run to fail.

Tests run these only as dry runs or against a stand-in ``shutdown`` on a
path holding nothing else: the real tool would take the machine down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from agent.operations.base import Handler, OperationContext, OperationSkipped
from common.operations.declaration import OperationResult
from common.operations.power import PowerParams, minutes

Action = Literal["reboot", "poweroff"]
_SHUTDOWN_FLAG: dict[Action, str] = {"reboot": "-r", "poweroff": "-P"}


def command(ctx: OperationContext, action: Action, params: PowerParams) -> list[str]:
    """The argv that does it here, or :class:`OperationSkipped` when no tool can."""
    wait = minutes(params.delay)
    message = [params.message] if params.message else []
    tool = Path(ctx.host.require("shutdown", "systemctl"))
    if tool.name == "shutdown":
        if tool.resolve().name == "systemctl":  # systemd's: it needs systemd running
            ctx.host.require_systemd()
        return ["shutdown", _SHUTDOWN_FLAG[action], "--", f"+{wait}" if wait else "now", *message]
    if wait:
        raise OperationSkipped("shutdown is not installed on this host (a delayed one needs it)")
    ctx.host.require_systemd()
    return ["systemctl", action, "--no-ask-password", *(f"--message={m}" for m in message)]


def _power(action: Action) -> Handler:
    async def handle(params: PowerParams, ctx: OperationContext) -> OperationResult:
        argv = command(ctx, action, params)
        wait = minutes(params.delay)
        output = ""
        if not ctx.dry_run:
            ran = await ctx.host.run(argv)
            output = "\n".join(t.strip() for t in (ran.stdout, ran.stderr) if t.strip())
        after = f"{action} in {wait} min" if wait else f"{action} now"
        data = {
            "action": action,
            "minutes": wait,
            "argv": argv,
            "output": output,
            "diff": {"before": "running", "after": after},
        }
        return OperationResult(changed=True, data=data)

    return handle


HANDLERS: dict[str, Handler] = {
    "power.reboot": _power("reboot"),
    "power.shutdown": _power("poweroff"),
}
