"""bus/loop.py: which event loop a process runs on."""

from __future__ import annotations

import asyncio
import gc

import uvloop

from bus.loop import loop_factory, run


def test_uvloop_by_default_and_asyncio_on_request() -> None:
    assert loop_factory({}) is uvloop.new_event_loop
    assert loop_factory({"CORRAL_EVENT_LOOP": "asyncio"}) is None


def test_run_runs_the_coroutine_on_the_chosen_loop() -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert run(loop_type(), {}) is uvloop.Loop
    assert run(loop_type(), {"CORRAL_EVENT_LOOP": "asyncio"}) is not uvloop.Loop


def test_what_exists_when_the_loop_starts_is_out_of_the_collectors_view() -> None:
    async def frozen() -> int:
        return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert run(frozen(), {}) > 1000  # the imported modules' objects, at least
    finally:
        gc.unfreeze()  # the test process's other tests collect as before
