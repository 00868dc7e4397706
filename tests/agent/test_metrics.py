"""The agent's metrics as rendered from a snapshot of its runtime. No I/O.

Served on a real port while jobs run: tests/system/test_metrics.py.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from agent.metrics import AgentCollector, Snapshot

TAKEN = Snapshot(
    outcomes={("test.ping", "completed"): 3, ("service.restart", "skipped"): 1},
    refused={"bad_signature": 2},
    running=1,
    drained=True,
    journal_entries=4,
)


def registry_of(read: AgentCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(read)
    return registry


def test_a_snapshot_renders_as_counters_and_gauges() -> None:
    sample = registry_of(AgentCollector(lambda: TAKEN)).get_sample_value
    jobs = "corral_agent_jobs_total"
    assert sample(jobs, {"operation": "test.ping", "outcome": "completed"}) == 3
    assert sample(jobs, {"operation": "service.restart", "outcome": "skipped"}) == 1
    assert sample("corral_agent_refusals_total", {"reason": "bad_signature"}) == 2
    assert sample("corral_agent_jobs_running") == 1
    assert sample("corral_agent_drained") == 1
    assert sample("corral_agent_journal_entries") == 4


def test_an_unread_journal_leaves_its_gauge_out_and_the_rest_in() -> None:
    unread = Snapshot(outcomes=TAKEN.outcomes, journal_entries=None)
    sample = registry_of(AgentCollector(lambda: unread)).get_sample_value
    assert sample("corral_agent_journal_entries") is None
    assert sample("corral_agent_drained") == 0


def test_registering_does_not_read_the_runtime() -> None:
    # The read runs on the agent's loop: a read while registering, on that loop, would hang.
    def read() -> Snapshot:
        raise AssertionError("read at registration")

    registry_of(AgentCollector(read))
