"""Both /metrics, scraped as Prometheus would while jobs run: the controller's and an agent's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent import metrics as agent_metrics
from common import subjects
from devstack.process import ServerProcess, free_port
from devstack.until import until
from tests.harness import Stack, running_stack

HOST = "metrics-1.test"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def observed(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, str, str]]:
    """A stack whose controller serves metrics, one agent serving its own."""
    port = free_port()
    async with running_stack(nats_server.url, redis_db_url, tmp_path, metrics_port=port) as stack:
        agent = await stack.start_agent(HOST)
        async with agent_metrics.serving(agent.runtime, free_port()) as agent_port:
            yield (
                stack,
                f"http://127.0.0.1:{port}/metrics",
                f"http://127.0.0.1:{agent_port}/metrics",
            )


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as client:  # no API key: the ports are unauthenticated
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after[key] - before.get(key, 0.0)


async def test_jobs_move_the_counters_of_the_controller_and_the_agent(
    observed: tuple[Stack, str, str],
) -> None:
    stack, controller_url, agent_url = observed
    controller, agent = await scrape(controller_url), await scrape(agent_url)
    assert agent[("corral_agent_jobs_running", ())] == 0
    assert agent[("corral_agent_drained", ())] == 0

    await stack.final(await stack.submit("test.ping"))
    await stack.final(await stack.submit("test.fail", {"message": "no"}))
    await stack.final(await stack.submit("test.skip", {"reason": "no tool"}, "_all"))
    assert (await stack.api.get("/nowhere")).status_code == 404
    controller_after, agent_after = await scrape(controller_url), await scrape(agent_url)

    def counted(name: str, **labels: str) -> float:
        return moved(controller, controller_after, name, **labels)

    assert counted("corral_jobs_submitted_total", operation="test.ping") == 1
    assert counted("corral_jobs_finished_total", operation="test.ping", status="completed") == 1
    assert counted("corral_jobs_finished_total", operation="test.fail", status="failed") == 1
    assert counted("corral_jobs_finished_total", operation="test.skip", status="failed") == 1
    assert counted("corral_job_duration_seconds_count", operation="test.ping") == 1
    assert counted("corral_job_first_answer_seconds_count", operation="test.fail") == 1
    assert counted("corral_agents_skipped_total", operation="test.skip") == 1
    assert counted("corral_events_folded_total") > 0
    assert counted("corral_http_requests_total", method="POST", route="/job", status="201") == 3
    assert counted("corral_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert ("corral_event_backlog", ()) in controller_after
    assert controller_after[("corral_agents", (("state", "online"),))] == 1

    def ran(operation: str, outcome: str) -> float:
        labels = {"operation": operation, "outcome": outcome}
        return moved(agent, agent_after, "corral_agent_jobs_total", **labels)

    assert (ran("test.ping", "completed"), ran("test.fail", "failed")) == (1, 1)
    assert ran("test.skip", "skipped") == 1
    assert agent_after[("corral_agent_journal_entries", ())] >= 3


async def test_a_drain_and_a_refusal_show_on_both(observed: tuple[Stack, str, str]) -> None:
    stack, controller_url, agent_url = observed
    runtime = stack.agents[HOST].agent.runtime
    assert (await stack.api.post(f"/agent/{HOST}/drain")).status_code == 200
    await until(lambda: runtime.drained, f"{HOST} drained")
    nc = await nats.connect(stack.nats_url)
    try:  # an unsigned drain request: refused as malformed
        await nc.publish(subjects.drain_of(HOST), b"not signed")
        await until(lambda: runtime.refused["malformed"] == 1, "the request refused")
    finally:
        await nc.close()

    controller, agent = await scrape(controller_url), await scrape(agent_url)
    assert controller[("corral_agents", (("state", "drained"),))] == 1
    assert ("corral_agents", (("state", "online"),)) not in controller
    assert agent[("corral_agent_drained", ())] == 1
    assert agent[("corral_agent_refusals_total", (("reason", "malformed"),))] == 1
