"""``corral controller --workers N``: N controller processes sharing one HTTP port.

I/O: processes, signals, sockets. One Python process uses one core; on a
controller host with more, each worker runs the whole controller (HTTP API,
collector, sweeper, registry, agents' consumer requests), as N replicas do:
controllers need no leader, they share the durable consumers and the store
(docs/scaling.md). Each worker binds the API port itself with SO_REUSEPORT,
so the kernel spreads new connections across the workers (Linux) and a
worker that dies takes only its own connections with it.

The parent forks the workers before it runs any event loop or thread, then
only waits. It forwards SIGTERM and SIGINT to every worker as SIGTERM (a
second one forces them out, as for one controller), logs a worker that
exits early, and restarts nothing: the service manager restarts the unit.
It exits once every worker has, with the first failure's status.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType

import msgspec
import structlog

from bus.connect import install_signals
from bus.loop import run as run_loop
from common.config import ControllerConfig
from controller.server import load_plugins, serve

log = structlog.get_logger("corral.controller")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def check_workers(config: ControllerConfig, count: int) -> None:
    """Refuse what N workers cannot do; ValueError says why."""
    if count < 1:
        raise ValueError("--workers: at least 1")
    if count == 1:
        return
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("--workers above 1 needs SO_REUSEPORT (Linux)")
    if config.port == 0:
        raise ValueError("--workers above 1 needs a fixed --port: each worker binds it")


def worker_config(config: ControllerConfig, index: int) -> ControllerConfig:
    """Worker ``index``'s settings: its own NATS connection name, and its own
    metrics port (``metrics_port + index``), since a shared one would answer
    with whichever worker the kernel picked."""
    metrics_port = config.metrics_port + index if config.metrics_port else 0
    return msgspec.structs.replace(config, name=f"{config.name}-{index}", metrics_port=metrics_port)


def reusable_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other workers may bind too."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def exit_status(exitcode: int | None) -> int:
    """A process's exit code as a shell reports it: 128 + N when killed by signal N."""
    if exitcode is None:
        return 1
    return 128 - exitcode if exitcode < 0 else exitcode


def run_workers(config: ControllerConfig, count: int) -> int:
    """Start ``count`` workers and wait for all of them; the exit status."""
    context = multiprocessing.get_context("fork")  # nothing runs yet that a fork would copy badly
    parent = os.getpid()
    workers = [
        context.Process(
            target=_worker,
            args=(worker_config(config, index), index, parent),
            name=f"corral-controller-{index}",
        )
        for index in range(count)
    ]
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            log.info("shutdown_requested", workers=count)
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    # Blocked across the forks: a worker must not run the parent's handler,
    # and the parent must not miss a signal while its handlers go in.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        for worker in workers:
            worker.start()
        log.info("controller_workers_started", pids=[w.pid for w in workers], port=config.port)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        statuses = _wait_all(workers, lambda: stopping)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return next((status for status in statuses if status), 0)


def _wait_all(workers: Sequence[BaseProcess], stopping: Callable[[], bool]) -> list[int]:
    by_sentinel = {worker.sentinel: (index, worker) for index, worker in enumerate(workers)}
    statuses: list[int] = []
    while by_sentinel:
        # Signals interrupt this wait; PEP 475 resumes it after the handler.
        for sentinel in multiprocessing.connection.wait(list(by_sentinel)):
            index, worker = by_sentinel.pop(sentinel)  # type: ignore[arg-type]  # an int here
            worker.join()
            status = exit_status(worker.exitcode)
            statuses.append(status)
            facts = {"worker": index, "pid": worker.pid, "status": status}
            if stopping():
                log.info("controller_worker_stopped", **facts)
            else:
                log.warning("controller_worker_exited", **facts, still_running=len(by_sentinel))
    return statuses


def _worker(config: ControllerConfig, index: int, parent: int) -> None:
    """One worker process: a whole controller on the shared port."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A terminal's Ctrl-C reaches the whole process group; the parent forwards
    # it once as SIGTERM, so a worker taking it too would count it twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_with_parent(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    structlog.contextvars.bind_contextvars(worker=index)
    load_plugins()
    run_loop(_serve_worker(config), os.environ)


def _stop_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies, even by SIGKILL (Linux), so
    no worker keeps serving on its own."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above
        raise SystemExit(0)


async def _serve_worker(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    install_signals(stop, "shutdown_requested")
    loop = asyncio.get_running_loop()
    loop.remove_signal_handler(signal.SIGINT)  # see _worker: SIGTERM only
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    await serve(config, stop, api_socket=reusable_socket(config.host, config.port))
