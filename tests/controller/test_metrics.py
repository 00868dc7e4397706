"""What the controller's metrics derive: agents by state, skipped answers by operation.

The counters against a whole stack, scraped: tests/system/test_metrics.py.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from common.messages import ENCODER, Completed, Event, Heartbeat, Skipped, event_id
from controller.metrics import ControllerMetrics, agents_by_state
from controller.registry import Registry
from controller.store.agents import AgentStore
from controller.store.scripts import Applied


def answer(kind: type[Completed | Skipped], job_id: str, hostname: str) -> tuple[Event, bytes]:
    tag = str(kind.__struct_config__.tag)
    event = kind(
        event_id=event_id(job_id, hostname, 1, tag),
        job_id=job_id,
        hostname=hostname,
        timestamp=time.time(),
    )
    return event, ENCODER.encode(event)


def test_a_live_drained_agent_counts_as_drained_a_silent_one_as_offline(
    agents: AgentStore,
) -> None:
    now = time.time()
    registry = Registry(agents, heartbeat_timeout=15.0)
    for hostname, seen in [("a.test", now), ("b.test", now), ("c.test", now - 60), ("d.test", now)]:
        registry.observe(Heartbeat(hostname=hostname, sent_at=seen, interval=5.0), seen)
    registry.drained = {"b.test": now, "c.test": now}

    assert agents_by_state(registry) == {"online": 2, "drained": 1, "offline": 1}


def test_skipped_answers_count_by_operation_once_stored() -> None:
    metrics = ControllerMetrics(CollectorRegistry())
    grouped = {
        "job-1": [answer(Skipped, "job-1", "a.test"), answer(Completed, "job-1", "b.test")],
        "job-2": [answer(Skipped, "job-2", "a.test")],  # redelivered: stored already
    }
    applied = {
        "job-1": Applied("processing", 2, 3, new_events=2, operation="service.restart"),
        "job-2": Applied("completed", 1, 1, new_events=0, operation="service.restart"),
    }
    metrics.count_skipped(grouped, applied)
    sample = metrics.registry.get_sample_value
    assert sample("corral_agents_skipped_total", {"operation": "service.restart"}) == 1
