"""The ``power`` family's declarations: reboot and power off the host. Pure: no I/O.

``shutdown`` schedules in whole minutes, so a delay in seconds is rounded
up to the next minute (``shutdown -r +N``); 0 is ``now``. The default
delay, one minute, lets the agent report before the host goes down.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from common.operations.declaration import Declaration, Family, Params, doc

# A week: anything longer is more likely a typo than a plan.
MAX_DELAY = 7 * 24 * 3600


def minutes(delay: int) -> int:
    """``delay`` seconds as the whole minutes ``shutdown +N`` takes, rounded up."""
    return -(-delay // 60)


class PowerParams(Params, frozen=True, kw_only=True, forbid_unknown_fields=True):
    delay: Annotated[
        int,
        msgspec.Meta(ge=0, le=MAX_DELAY),
        doc("Seconds from now, rounded up to whole minutes; 0 is now."),
    ] = 60
    message: (
        Annotated[
            str,
            msgspec.Meta(max_length=1024),
            doc("Sent to logged-in users (wall) with the warning."),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if self.message is not None and "\0" in self.message:
            raise ValueError("message contains a NUL character")


class PowerState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    before: Annotated[str, doc("`running`.")]
    after: Annotated[str, doc("`reboot now`, `poweroff in 5 min`...")]


class PowerResult(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    action: Literal["reboot", "poweroff"]
    minutes: Annotated[int, doc("Minutes from now it goes down; 0: now.")]
    argv: Annotated[list[str], doc("What was run, or on a dry run what would be.")]
    output: Annotated[str, doc("What the tool said (empty on a dry run).")]
    diff: PowerState


def _power(name: str, what: str, summary: str) -> Declaration:
    return Declaration(
        name=name,
        params=PowerParams,
        result=PowerResult,
        kind="mutate",
        summary=summary,
        description=(
            f"Runs `shutdown {what} +N [message]` (N: `delay` in minutes, rounded up; `now`"
            " for 0), replacing any shutdown already scheduled. Without `shutdown`, an"
            " immediate one runs `systemctl` instead; a delayed one is skipped. systemd's"
            " `shutdown` (and `systemctl`) are skipped where systemd is not running. With"
            " `delay` 0 the agent may go down before it reports. Always changes the host;"
            " a dry run says what it would run."
        ),
        example={"delay": 300, "message": "kernel update"},
        dry_run=True,
    )


FAMILY = Family(
    name="power",
    summary="Reboot or power off the host, now or after a delay.",
    declarations=(
        _power("power.reboot", "-r", "Reboot the host."),
        _power("power.shutdown", "-P", "Power off the host."),
    ),
)
