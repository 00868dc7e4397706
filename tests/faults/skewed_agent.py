"""An agent process whose wall clock is off: ``python -m tests.faults.skewed_agent``.

Test only; production has no such knob. ``CORRAL_TEST_CLOCK_OFFSET``
(seconds, may be negative) is added to :func:`time.time` and
:func:`time.time_ns` *before* any corral module is imported, so defaults
bound at import (``Runtime.clock``, ``Journal``'s clock) and every later
call see the shifted clock, as on a host whose NTP is broken. Monotonic
clocks (timeouts, backoff) are untouched, as they would be. Then the normal
entry point runs with the same arguments as ``python -m cli.main``.
"""

from __future__ import annotations

import os
import time

OFFSET_ENV = "CORRAL_TEST_CLOCK_OFFSET"


def shift_clock(offset: float) -> None:
    real, real_ns = time.time, time.time_ns
    time.time = lambda: real() + offset
    time.time_ns = lambda: real_ns() + int(offset * 1e9)


if __name__ == "__main__":
    shift_clock(float(os.environ[OFFSET_ENV]))
    from cli.main import main

    main()
