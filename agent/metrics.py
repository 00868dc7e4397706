"""The agent's Prometheus metrics, on an opt-in loopback port. I/O: HTTP (a thread), the journal.

Off unless ``metrics_port`` is set (``CORRAL_METRICS_PORT``). prometheus-client's
own server answers in a thread of its own, so a scrape never waits for the
agent's loop to be free to accept it, and it binds 127.0.0.1 only: an agent
runs as root on a host that is no monitoring box, so its figures are read
there (a local Prometheus agent or collector forwards them; docs/operations.md).

Nothing is counted for metrics on the job path: the runtime keeps its counts
anyway (jobs finished by operation and outcome, refusals by reason, the jobs
running, the drain) and a scrape reads them, and counts the journal, in one
call run on the agent's loop, so no figure is read while the loop changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agent.runtime import Runtime

log = structlog.get_logger("corral.agent")
LOOPBACK = "127.0.0.1"
SCRAPE_WAIT = 5.0  # seconds a scrape waits for the loop; Prometheus's default timeout is 10


@dataclass(frozen=True)
class Snapshot:
    """The agent's figures at one moment, read on its loop."""

    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    running: int = 0
    drained: bool = False
    journal_entries: int | None = None  # None: the journal did not answer


async def snapshot(runtime: Runtime) -> Snapshot:
    try:
        entries: int | None = await runtime.journal.count()
    except Exception as exc:  # noqa: BLE001 - a journal error leaves the gauge out, not the scrape
        log.warning("metrics_journal_unread", error=str(exc))
        entries = None
    return Snapshot(
        outcomes=dict(runtime.outcomes),
        refused=dict(runtime.refused),
        running=len(runtime.active),
        drained=runtime.drained,
        journal_entries=entries,
    )


def families(taken: Snapshot) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    jobs = CounterMetricFamily(
        "corral_agent_jobs",
        "Jobs this agent finished, by operation and outcome (its terminal event).",
        labels=["operation", "outcome"],
    )
    for labels, count in sorted(taken.outcomes.items()):
        jobs.add_metric(list(labels), count)
    yield jobs
    refusals = CounterMetricFamily(
        "corral_agent_refusals", "Job messages refused, by reason.", labels=["reason"]
    )
    for reason, count in sorted(taken.refused.items()):
        refusals.add_metric([reason], count)
    yield refusals
    yield GaugeMetricFamily("corral_agent_jobs_running", "Jobs running now.", value=taken.running)
    yield GaugeMetricFamily(
        "corral_agent_drained", "1 while the agent is drained.", value=int(taken.drained)
    )
    if taken.journal_entries is not None:
        yield GaugeMetricFamily(
            "corral_agent_journal_entries",
            "Jobs the journal remembers.",
            value=taken.journal_entries,
        )


class AgentCollector(Collector):
    """Renders what ``read`` returns when scraped; nothing if it returns None."""

    def __init__(self, read: Callable[[], Snapshot | None]) -> None:
        self.read = read

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        # Registering asks for the names: without this it would collect, on the loop's thread.
        return families(Snapshot(journal_entries=0))

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        taken = self.read()
        return families(taken) if taken is not None else iter(())


def reader(runtime: Runtime, loop: asyncio.AbstractEventLoop) -> Callable[[], Snapshot | None]:
    """A read for the server's thread: the snapshot taken on ``loop``, or None after a wait."""

    def read() -> Snapshot | None:
        future = asyncio.run_coroutine_threadsafe(snapshot(runtime), loop)
        try:
            return future.result(SCRAPE_WAIT)
        except TimeoutError:
            future.cancel()
            log.warning("metrics_scrape_timed_out", waited=SCRAPE_WAIT)
            return None

    return read


@contextlib.asynccontextmanager
async def serving(runtime: Runtime, port: int) -> AsyncIterator[int | None]:
    """``GET /metrics`` on 127.0.0.1:``port`` while inside; its port, or None when ``port`` is 0."""
    if not port:
        yield None
        return
    registry = CollectorRegistry()
    registry.register(AgentCollector(reader(runtime, asyncio.get_running_loop())))
    try:
        server, thread = start_http_server(port, LOOPBACK, registry)
    except OSError as exc:
        raise SystemExit(f"cannot serve the agent's metrics on {LOOPBACK}:{port}: {exc}") from None
    log.info("agent_metrics_serving", url=f"http://{LOOPBACK}:{port}/metrics")
    try:
        yield port
    finally:
        await asyncio.to_thread(_stop, server, thread)


def _stop(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()
