"""The controller's Prometheus metrics and the server that exposes them. I/O: HTTP (serving).

Counters are counted where the fact happens (a submit, a final status, a
failed publish), in this process, so summing over controller replicas counts
each job once. What the collector already counts on its hot path (events
folded, events rejected by reason) and what can be read when scraped (agents
by state, the event backlog) is read at scrape time instead, so the fold
pays nothing for it. Served unauthenticated on its own port
(``metrics_port``, off by default; bound to ``host`` like the API), as
Prometheus scrapes expect: docs/operations.md.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from common.messages import Event, Skipped
from controller.registry import Registry
from controller.store.scripts import Applied

# Seconds, from a trivial job on one host to a long broadcast.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        into = self.registry
        self.submitted = Counter(
            "corral_jobs_submitted", "Jobs accepted.", ["operation"], registry=into
        )
        self.finished = Counter(
            "corral_jobs_finished",
            "Jobs that reached a final status.",
            ["status", "operation"],
            registry=into,
        )
        self.duration = Histogram(
            "corral_job_duration_seconds",
            "From submit to final status.",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=into,
        )
        self.first_answer = Histogram(
            "corral_job_first_answer_seconds",
            "From submit to the first agent event stored (its acknowledged, as a rule).",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=into,
        )
        self.skipped = Counter(
            "corral_agents_skipped",
            "Agents that answered skipped (the host lacks what the operation needs).",
            ["operation"],
            registry=into,
        )
        self.dispatch_errors = Counter(
            "corral_dispatch_errors", "Job publishes that failed or were not acked.", registry=into
        )
        # (route, method, status) -> count, by the API's middleware; read at scrape.
        self.requests: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def job_finished(self, status: str, operation: str, created: float) -> None:
        self.finished.labels(status, operation).inc()
        if created:
            self.duration.labels(operation).observe(max(time.time() - created, 0.0))

    def count_skipped(
        self, grouped: Mapping[str, Sequence[tuple[Event, bytes]]], applied: Mapping[str, Applied]
    ) -> None:
        """Skipped answers a batch stored, by operation. Only jobs the batch added
        events to count, so a redelivered batch is not counted again."""
        for job_id, outcome in applied.items():
            if outcome.new_events:
                found = sum(type(event) is Skipped for event, _ in grouped.get(job_id, ()))
                if found:
                    self.skipped.labels(outcome.operation).inc(min(found, outcome.new_events))


def agents_by_state(registry: Registry) -> collections.Counter[str]:
    """online, drained (online but out of rotation) or offline, whatever its drain."""
    now = time.time()
    states: collections.Counter[str] = collections.Counter()
    for record in registry.agents.values():
        state = registry.state_of(record, now)
        drained = state == "online" and record.hostname in registry.drained
        states["drained" if drained else state] += 1
    return states


class Scraped(Collector):
    """Figures other parts keep anyway, turned into metrics when Prometheus asks."""

    def __init__(
        self,
        folded: Callable[[], int],
        rejected: Callable[[], Mapping[str, int]],
        agents: Callable[[], Mapping[str, int]],
        fold_lag: Callable[[], float],
        requests: Callable[[], Mapping[tuple[str, str, str], int]],
    ) -> None:
        self.folded, self.rejected, self.agents, self.fold_lag = folded, rejected, agents, fold_lag
        self.requests = requests
        self.backlog: int | None = None  # refreshed by the scrape (:func:`metrics_app`)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "corral_events_folded", "Event messages stored and acked.", value=self.folded()
        )
        rejected = CounterMetricFamily(
            "corral_events_rejected", "Events dropped, by reason.", labels=["reason"]
        )
        for reason, count in sorted(self.rejected().items()):
            rejected.add_metric([reason], count)
        yield rejected
        agents = GaugeMetricFamily(
            "corral_agents", "Registered agents: online, drained, offline.", labels=["state"]
        )
        for state, count in sorted(self.agents().items()):
            agents.add_metric([state], count)
        yield agents
        if self.backlog is not None:
            yield GaugeMetricFamily(
                "corral_event_backlog", "Events stored, not folded yet.", value=self.backlog
            )
        requests = CounterMetricFamily(
            "corral_http_requests",
            "HTTP requests by route, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, count in sorted(self.requests().items()):
            requests.add_metric(list(labels), count)
        yield requests
        yield GaugeMetricFamily(
            "corral_fold_lag_seconds",
            "Age of the oldest event in the last batch folded.",
            value=self.fold_lag(),
        )


def metrics_app(
    metrics: ControllerMetrics, scraped: Scraped, backlog: Callable[[], Awaitable[int | None]]
) -> Starlette:
    """``GET /metrics``: the event backlog is asked of JetStream, then everything rendered."""

    async def scrape(request: Request) -> Response:
        scraped.backlog = await backlog()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])
