"""devstack/until.py: the one poller, with sync and async checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from devstack.until import ConditionTimeout, until


class Countdown:
    """A check that turns true on its ``calls``-th call and counts its calls."""

    def __init__(self, calls: int) -> None:
        self.left = calls
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        self.left -= 1
        return self.left <= 0

    async def awaited(self) -> bool:
        return self()


def sync_or_async(countdown: Countdown, kind: str) -> Callable[[], bool | Awaitable[bool]]:
    return countdown if kind == "sync" else countdown.awaited


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_until_returns_on_the_first_true_without_polling_more(kind: str) -> None:
    at_once, third = Countdown(1), Countdown(3)
    await until(sync_or_async(at_once, kind), "at once", interval=0.001)
    await until(sync_or_async(third, kind), "the third call", interval=0.001)
    assert (at_once.calls, third.calls) == (1, 3)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_until_times_out_naming_what_and_the_bound(kind: str) -> None:
    never = Countdown(10**9)
    with pytest.raises(ConditionTimeout, match=r"^timed out after 0\.05s waiting for the moon$"):
        await until(sync_or_async(never, kind), "the moon", within=0.05, interval=0.01)
    assert never.calls > 1


def test_a_timeout_is_a_timeout_error() -> None:
    assert issubclass(ConditionTimeout, TimeoutError)


async def test_an_exception_of_the_check_propagates_at_once() -> None:
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise ValueError("broken check")

    with pytest.raises(ValueError, match="broken check"):
        await until(broken, "a broken check")
    assert calls == 1


async def test_ignored_exceptions_count_as_not_yet() -> None:
    countdown = Countdown(3)

    async def refused_twice() -> bool:
        if not countdown():
            raise ConnectionRefusedError("starting")
        return True

    await until(refused_twice, "the server", interval=0.001, ignore=(ConnectionError,))
    assert countdown.calls == 3


async def test_a_timeout_names_the_last_ignored_exception() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("still starting")

    with pytest.raises(ConditionTimeout, match=r"the server \(last: ConnectionRefusedError"):
        await until(refused, "the server", within=0.02, interval=0.005, ignore=(OSError,))
