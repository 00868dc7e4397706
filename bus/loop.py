"""How corral's processes run their event loop: uvloop where it is installed.

uvloop roughly halves the CPU that every network hop costs in the event
loop itself (docs/performance.md), and the controller, agents and swarm are
all network hops. ``CORRAL_EVENT_LOOP=asyncio`` opts out, e.g. to compare
or to rule uvloop out while debugging.

What the process made before its loop starts (the imported modules, their
functions and classes, the configuration) lives as long as the process, so
it is frozen out of the garbage collector's view: a full collection walks
only what came after. Each full collection of a busy controller otherwise
walked all of it again, about 40 ms with its loop stopped.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(environ: Mapping[str, str]) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop."""
    if environ.get("CORRAL_EVENT_LOOP", "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str]) -> T:
    """``asyncio.run`` on the loop ``environ`` chooses, what exists by now frozen."""
    gc.freeze()
    with asyncio.Runner(loop_factory=loop_factory(environ)) as runner:
        return runner.run(main)
