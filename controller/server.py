"""The controller process, the composition root: connect, wire, serve. I/O: all of it.

One TaskGroup runs the HTTP server, the event collector, the sweeper and
the registry flusher. The first SIGTERM/SIGINT stops accepting requests and
ends the loops (unacked events are redelivered to another replica or to
the next start); a second one exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import structlog
import uvicorn
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bus.connect import connect, install_signals
from common.config import ControllerConfig
from common.redaction import Redactor
from common.signing import Signer, load_private
from controller.api.app import Services, create_app
from controller.api.idempotency import Idempotency
from controller.collect.collector import Collector
from controller.jobs.cancel import Canceller
from controller.jobs.dispatcher import Dispatcher
from controller.jobs.sealing import Sealer
from controller.registry import Registry
from controller.store.jobs import JobStore
from controller.store.redis import READ_TIMEOUT
from controller.streams import ensure_streams
from controller.upkeep.fold_progress import FoldProgress
from controller.upkeep.reconcile import Reconciler
from controller.upkeep.sweeper import Sweeper

log = structlog.get_logger("corral.controller")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the controller owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def connect_redis(url: str, *, read_timeout: float | None = READ_TIMEOUT) -> Redis:
    """A client that rides out short outages: a few retries with jittered backoff
    (bounded, so a request during a long outage fails fast with 503), a
    health check on idle connections, and bounded socket timeouts.

    ``read_timeout=None``: for the hot pipelines, which bound each pipeline
    as a whole instead (controller/store/redis.py)."""
    return Redis.from_url(
        url,
        health_check_interval=5,
        socket_timeout=read_timeout,
        socket_connect_timeout=2,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, BusyLoadingError],
    )


@contextlib.asynccontextmanager
async def controller_services(config: ControllerConfig) -> AsyncIterator[Services]:
    nc = await connect(config.nats_url, f"corral-{config.name}")
    redis = connect_redis(config.redis_url)
    bulk = connect_redis(config.redis_url, read_timeout=None)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=config.stream_replicas)
        redactor = Redactor(config.redact_patterns)
        store = JobStore(redis, config.retention, redactor, bulk=bulk)
        registry = Registry(store, config.heartbeat_timeout, config.forget_agents_after)
        await registry.load()
        await registry.subscribe(nc)
        private = load_private(config.signing_key)
        signer, sealer = Signer(private), Sealer(private)
        dispatcher = Dispatcher(
            store,
            js,
            signer,
            registry,
            sealer=sealer,
            redactor=redactor,
            connected=lambda: nc.is_connected,
        )
        yield Services(
            config=config,
            store=store,
            registry=registry,
            dispatcher=dispatcher,
            canceller=Canceller(dispatcher.control, nc, js, signer),
            idempotency=Idempotency(redis, sealer),
            broker_ready=lambda: nc.is_connected,
        )
    finally:
        # close, not drain: pull subscriptions keep status messages queued
        # that nobody reads, and drain would wait for them forever.
        await nc.close()
        await redis.aclose()
        await bulk.aclose()


async def serve(
    config: ControllerConfig, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    if not config.signing_key:
        raise SystemExit("the controller needs an Ed25519 signing key (--signing-key)")
    async with controller_services(config) as services:
        server = _Server(
            uvicorn.Config(
                create_app(services),
                host=config.host,
                port=config.port,
                log_config=None,
                access_log=False,
                # The C parser: h11 in pure Python was 13 % of a busy controller.
                http="httptools",
                lifespan="off",
            )
        )
        nc = services.canceller.nc
        collector = Collector(nc, services.store, config.fetch_batch)
        reconciler = Reconciler(services.dispatcher, services.canceller)
        sweeper = Sweeper(
            services.store,
            config.sweep_interval,
            reconciler=reconciler,
            progress=FoldProgress(services.dispatcher.js),
            backlog_wait=config.backlog_wait,
        )
        # Loops stop on their own event, not by cancellation: redis-py can
        # swallow a CancelledError that lands inside a command.
        loops_stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(collector.run(loops_stop))
            group.create_task(sweeper.run(loops_stop))
            group.create_task(services.registry.flush_until(loops_stop))
            http = group.create_task(server.serve())
            # uvicorn exposes only a flag, no event, for "listening".
            while not server.started and not http.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            log.info("controller_ready", url=f"http://{config.host}:{config.port}")
            if ready is not None:
                ready.set()
            await stop.wait()
            server.should_exit = True
            await http
            loops_stop.set()


async def main(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_signals(stop, "shutdown_requested")
    await serve(config, stop)
