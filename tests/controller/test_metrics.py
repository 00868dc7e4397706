"""The controller's /metrics against a whole stack: scraped as Prometheus would, counters move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.process import ServerProcess, free_port
from tests.harness import Stack, running_stack

HOST = "metrics-1.test"


@pytest.fixture
async def observed(
    nats_server: ServerProcess, redis_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, str]]:
    port = free_port()
    async with running_stack(nats_server.url, redis_db_url, tmp_path, metrics_port=port) as stack:
        yield stack, f"http://127.0.0.1:{port}/metrics"


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:  # no API key: the port is unauthenticated
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_a_job_moves_the_counters(observed: tuple[Stack, str]) -> None:
    stack, url = observed
    await stack.start_agent(HOST)
    before = await scrape(url)
    await stack.final(await stack.submit("test.ping"))
    await stack.final(await stack.submit("test.fail", {"message": "no"}))
    after = await scrape(url)
    assert after[("corral_jobs_submitted_total", (("operation", "test.ping"),))] == 1
    finished = "corral_jobs_finished_total"
    assert after[(finished, (("operation", "test.ping"), ("status", "completed")))] == 1
    assert after[(finished, (("operation", "test.fail"), ("status", "failed")))] == 1
    assert after[("corral_job_duration_seconds_count", (("operation", "test.ping"),))] == 1
    assert after[("corral_job_first_answer_seconds_count", ())] == 2
    assert after[("corral_events_folded_total", ())] > before.get(
        ("corral_events_folded_total", ()), 0
    )
    assert after[("corral_agents", (("state", "online"),))] == 1
    assert ("corral_event_backlog", ()) in after
    post = (
        "corral_http_requests_total",
        (("method", "POST"), ("route", "/job"), ("status", "201")),
    )
    assert after[post] == 2


async def test_an_unknown_route_is_counted_unmatched(observed: tuple[Stack, str]) -> None:
    stack, url = observed
    assert (await stack.api.get("/nowhere")).status_code == 404
    after = await scrape(url)
    key = (
        "corral_http_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert after[key] == 1
