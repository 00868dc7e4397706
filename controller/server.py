"""The controller process, the composition root: connect, wire, serve. I/O: all of it.

One TaskGroup runs the HTTP server, the event collector, the sweeper, the
registry flusher, the answers to agents' consumer requests and the rolling
rollouts' follower of the change feed. The first
SIGTERM/SIGINT stops accepting requests and ends the loops (unacked events
are redelivered to another replica or to the next start); a second one
exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import nats.errors
import structlog
import uvicorn
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from starlette.applications import Starlette

from bus.connect import connect, install_signals
from common import subjects
from common.config import ControllerConfig
from common.operations import plugins
from common.operations.catalog import BUILTIN_FAMILIES, FAMILIES, add_families
from common.redaction import Redactor
from common.signing import Signer, load_private
from controller.agent_consumers import AgentConsumers
from controller.api.app import create_app
from controller.api.http import Services
from controller.api.idempotency import Idempotency
from controller.collect.collector import Collector
from controller.drains import Drains
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher
from controller.jobs.group_commit import Committer
from controller.jobs.rollout import Rollouts
from controller.jobs.sealing import Sealer
from controller.metrics import ControllerMetrics, Scraped, agents_by_state, metrics_app
from controller.registry import Registry
from controller.store.agents import AgentStore
from controller.store.audit import AuditLog
from controller.store.control import ControlStore
from controller.store.jobs import JobStore
from controller.store.redis import RedisClient, connect_redis
from controller.store.rollouts import RolloutStore
from controller.streams import claims_max_age, ensure_streams
from controller.upkeep.fold_progress import FoldProgress
from controller.upkeep.reconcile import Reconciler
from controller.upkeep.sweeper import Sweeper
from controller.watch.changes import ChangeFeed
from controller.watch.watchers import Watchers

log = structlog.get_logger("corral.controller")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the controller owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True, slots=True)
class Controller:
    """Every long-lived part of one controller process, built by :func:`build`."""

    services: Services  # what the HTTP routes use
    collector: Collector
    sweeper: Sweeper
    metrics_app: Starlette  # GET /metrics (controller/metrics.py)
    consumers: AgentConsumers  # each agent's own consumer, on its request
    rollouts: Rollouts  # rolling rollouts, woken by the change feed


async def _streams_ensured(js: JetStreamContext, config: ControllerConfig) -> None:
    """Create or update the streams, waiting out a cluster that cannot answer yet.

    Controllers started together on a fresh cluster all create the replicated
    streams at once; while the cluster elects their leaders an API call can
    time out. That is worth waiting for, not a reason to exit.
    """
    delay = 0.2
    while True:
        try:
            await ensure_streams(
                js,
                replicas=config.stream_replicas,
                duplicate_window=config.duplicate_window,
                claims_age=claims_max_age(config.retention, config.max_timeout),
            )
            return
        except nats.errors.TimeoutError as exc:
            log.warning("streams_not_ready", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def build(
    config: ControllerConfig, nc: NATS, redis: RedisClient, bulk: RedisClient
) -> Controller:
    """Wire a controller on open connections; ``bulk`` runs the hot pipelines
    (controller/store/redis.py)."""
    js = nc.jetstream()
    await _streams_ensured(js, config)
    redactor = Redactor(config.redact_patterns)
    store = JobStore(redis, config.retention, redactor, bulk=bulk)
    control = ControlStore(redis, bulk=bulk)
    registry = Registry(AgentStore(redis), config.heartbeat_timeout, config.forget_agents_after)
    await registry.load()
    await registry.subscribe(nc)
    private = load_private(config.signing_key)
    signer, sealer = Signer(private), Sealer(private)

    def connected() -> bool:
        return nc.is_connected

    metrics = ControllerMetrics()
    watchers = Watchers(control.status, store.operation_type)
    await watchers.subscribe(nc)
    feed = ChangeFeed(nc, watchers)
    rollout_state = RolloutStore(redis)
    rollouts = Rollouts(
        store,
        rollout_state,
        js,
        signer,
        sealer,
        name=config.name,
        feed=feed,
        watchers=watchers,
        metrics=metrics,
    )
    dispatcher = Dispatcher(
        Committer(store, js, signer, metrics=metrics, rollouts=rollouts.start),
        control,
        registry,
        sealer=sealer,
        redactor=redactor,
        connected=connected,
        metrics=metrics,
    )
    canceller = Canceller(
        store, control, nc, js, signer, feed=feed, metrics=metrics, rollouts=rollout_state
    )
    drains = Drains(registry, nc, signer)
    services = Services(
        config=config,
        store=store,
        control=control,
        registry=registry,
        dispatcher=dispatcher,
        canceller=canceller,
        idempotency=Idempotency(redis, sealer),
        watchers=watchers,
        drains=drains,
        broker_ready=connected,
        metrics=metrics,
        audit=AuditLog(redis, config.audit_max_entries),
        objects=await js.object_store(subjects.OBJECTS_BUCKET),
    )
    sweeper = Sweeper(
        store,
        config.sweep_interval,
        reconciler=Reconciler(control, dispatcher, canceller),
        progress=FoldProgress(js),
        backlog_wait=config.backlog_wait,
        feed=feed,
        metrics=metrics,
        rollouts=rollouts,
    )
    collector = Collector(
        nc, store, config.fetch_batch, feed=feed, metrics=metrics, reader=services.reader
    )
    consumers = AgentConsumers(nc, js)
    return Controller(
        services,
        collector,
        sweeper,
        observed(metrics, collector, registry, js),
        consumers,
        rollouts,
    )


def observed(
    metrics: ControllerMetrics, collector: Collector, registry: Registry, js: JetStreamContext
) -> Starlette:
    """The metrics app, with what the collector, the registry and JetStream know at scrape."""

    async def backlog() -> int | None:
        try:
            return int((await js.stream_info(subjects.EVENTS_STREAM)).state.messages)
        except Exception:  # noqa: BLE001 - NATS away: the gauge is left out, not wrong
            return None

    scraped = Scraped(
        folded=lambda: collector.folded,
        rejected=lambda: collector.rejected,
        agents=lambda: agents_by_state(registry),
        fold_lag=lambda: collector.fold_lag,
        requests=lambda: metrics.requests,
    )
    metrics.registry.register(scraped)
    return metrics_app(metrics, scraped, backlog)


@contextlib.asynccontextmanager
async def connections(
    config: ControllerConfig,
) -> AsyncIterator[tuple[NATS, RedisClient, RedisClient]]:
    """NATS, the main Redis client and the hot-pipeline one; closed on the way out."""
    nc = await connect(config.nats_url, f"corral-{config.name}")
    redis = connect_redis(config.redis_url)
    bulk = connect_redis(config.redis_url, read_timeout=None)
    try:
        yield nc, redis, bulk
    finally:
        # close, not drain: pull subscriptions keep status messages queued
        # that nobody reads, and drain would wait for them forever.
        await nc.close()
        await redis.aclose()
        await bulk.aclose()


def load_plugins() -> list[str]:
    """Every installed third-party operation family joins the table (docs/plugins.md):
    validated, authorized and listed like the built-ins. The plugin families' names."""
    try:
        add_families(plugins.load_all())
    except ValueError as exc:  # PluginError, or a family that does not check out
        raise SystemExit(f"cannot load the operation plugins: {exc}") from None
    return sorted(FAMILIES.keys() - {family.name for family in BUILTIN_FAMILIES})


async def serve(
    config: ControllerConfig,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    api_socket: socket.socket | None = None,
) -> None:
    """Run one controller until ``stop``; the API listens on ``api_socket`` if
    given (a port shared by several workers, controller/workers.py), else on
    ``config.host:config.port``."""
    if not config.signing_key:
        raise SystemExit("the controller needs an Ed25519 signing key (--signing-key)")
    if found := load_plugins():
        log.info("operation_plugins_loaded", families=found)
    async with connections(config) as (nc, redis, bulk):
        controller = await build(config, nc, redis, bulk)
        server = _http_server(create_app(controller.services), config.host, config.port)
        servers = [server]
        if config.metrics_port:
            servers.append(_http_server(controller.metrics_app, config.host, config.metrics_port))
        # Loops stop on their own event, not by cancellation: redis-py can
        # swallow a CancelledError that lands inside a command.
        loops_stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(controller.collector.run(loops_stop))
            group.create_task(controller.sweeper.run(loops_stop))
            group.create_task(controller.services.registry.flush_until(loops_stop))
            group.create_task(controller.consumers.run(loops_stop))
            group.create_task(controller.rollouts.run(loops_stop))
            api_sockets = None if api_socket is None else [api_socket]
            serving = [group.create_task(server.serve(sockets=api_sockets))]
            serving += [group.create_task(s.serve()) for s in servers[1:]]
            # uvicorn exposes only a flag, no event, for "listening".
            while not all(s.started for s in servers) and not any(h.done() for h in serving):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            log.info("controller_ready", url=f"http://{config.host}:{config.port}")
            if ready is not None:
                ready.set()
            await stop.wait()
            for each in servers:
                each.should_exit = True
            await asyncio.gather(*serving)
            loops_stop.set()


KEEP_ALIVE = 75  # seconds, as nginx's default


def _http_server(app: Starlette, host: str, port: int) -> _Server:
    return _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            http="httptools",  # the C parser (docs/performance.md)
            lifespan="off",
            # Longer than clients keep an idle connection (httpx: 5 s), so a
            # client never reuses one the server is closing at that moment
            # ("Server disconnected without sending a response").
            timeout_keep_alive=KEEP_ALIVE,
        )
    )


async def main(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_signals(stop, "shutdown_requested")
    await serve(config, stop)
