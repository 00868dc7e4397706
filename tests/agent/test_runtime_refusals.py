"""Jobs an agent refuses by its clock: expired, or a clock skewed by ten minutes.

The agent's clock is a parameter of its runtime; these tests move it, as if
the host's clock were off, and submit ordinary jobs through the API.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import Stack


@pytest.mark.parametrize(
    ("offset", "reason", "words"),
    [
        (600.0, "clock_skew", "clock skew"),
        (-600.0, "clock_skew", "in the future"),
        (40.0, "expired", "job expired"),
    ],
)
async def test_a_job_outside_its_time_window_is_refused_with_a_reason(
    stack: Stack, offset: float, reason: str, words: str
) -> None:
    host = "clock.test"
    agent = await stack.start_agent(host)
    agent.runtime.clock = lambda: time.time() + offset
    # 40 s ahead with a 30 s job is 10 s late: within the 30 s skew tolerance.
    job_id = await stack.submit("test.ping", target=host, job_timeout=30)
    detail = await stack.final(job_id)
    assert detail["status"] == "failed"
    assert words in detail["error"]
    assert agent.runtime.refused == {reason: 1}
    assert agent.runtime.completed == 1  # the refusal was reported and the job acked
