"""The rollout flags of ``corral run``: ``--batch-size`` and friends. No I/O.

They make the submit's ``rollout`` (docs/operations.md, "Rolling rollouts");
the controller checks the values and answers 400 naming the field.
"""

from __future__ import annotations

import re
from typing import Any

import click
import msgspec

from common.rollout import Rollout

# Parameter names the flags take (an operation's params may not use them).
ROLLOUT_FLAGS = frozenset({"batch_size", "pause", "max_failures", "max_concurrency"})


def share(text: str | None) -> int | str | None:
    """``"5"`` is a count, ``"25%"`` a share: the count goes as a number."""
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def rollout_options() -> list[click.Option]:
    return [
        click.Option(
            ["--batch-size"],
            help="Roll out batch by batch: agents per batch, or a share such as 25%.",
        ),
        click.Option(["--pause"], type=float, help="Rollout: seconds between batches."),
        click.Option(
            ["--max-failures"],
            help="Rollout: stop once failures exceed this count or share (such as 10%).",
        ),
        click.Option(
            ["--max-concurrency"], type=int, help="Rollout: agents of a batch running at once."
        ),
    ]


def rollout_from(given: dict[str, Any]) -> Rollout | None:
    """The rollout the flags ask for, or None; UsageError when a setting lacks --batch-size."""
    if all(given.get(name) is None for name in ROLLOUT_FLAGS):
        return None
    if given.get("batch_size") is None:
        raise click.UsageError("--pause, --max-failures and --max-concurrency need --batch-size")
    settings = {
        "batch_size": share(given["batch_size"]),
        "pause": given.get("pause"),
        "max_failures": share(given.get("max_failures")),
        "max_concurrency": given.get("max_concurrency"),
    }
    try:
        return msgspec.convert({k: v for k, v in settings.items() if v is not None}, Rollout)
    except msgspec.ValidationError as exc:
        flag = re.sub(r"\$\.(\w+)", lambda m: "--" + m.group(1).replace("_", "-"), str(exc))
        raise click.BadParameter(flag) from None
