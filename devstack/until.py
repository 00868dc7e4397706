"""Wait for a condition the system must reach, within a bound, and fail loudly.

The one poller of the dev stack, the tests and the benchmarks. No I/O of its
own: it sleeps between calls of the check it is given (which may do I/O).
Synchronous callers run it with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Check = Callable[[], bool | Awaitable[bool]]


class ConditionTimeout(TimeoutError):
    """What was awaited did not happen within its bound."""


async def until(
    check: Check,
    what: str,
    within: float = 30.0,
    *,
    interval: float = 0.02,
    ignore: tuple[type[Exception], ...] = (),
) -> None:
    """Return as soon as ``check()`` is true; raise :class:`ConditionTimeout`
    naming ``what`` and ``within`` once it has stayed false for ``within`` seconds.

    ``check`` returns a bool or an awaitable bool; it is called at once, then
    every ``interval`` seconds. An exception from it propagates: a broken
    check is a failure, not a "not yet". Only exceptions of the types in
    ``ignore`` count as false (a server still starting refuses connections);
    the last one is named in the timeout.
    """
    deadline = time.monotonic() + within
    while (outcome := await _outcome(check, ignore)) is not True:
        if time.monotonic() > deadline:
            last = f" (last: {outcome!r})" if isinstance(outcome, Exception) else ""
            raise ConditionTimeout(f"timed out after {within:g}s waiting for {what}{last}")
        await asyncio.sleep(interval)


async def _outcome(check: Check, ignore: tuple[type[Exception], ...]) -> bool | Exception:
    """Whether ``check`` holds, or the ignored exception it raised."""
    try:
        found = check()
        if inspect.isawaitable(found):
            found = await found
    except ignore as exc:
        return exc
    return bool(found)
