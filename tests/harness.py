"""A whole corral in the test's event loop: real nats-server and redis-server,
the real controller (HTTP on a free port) and real agents on their own NATS
connections. Only the processes are shared; every part speaks over sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from agent.daemon import Agent
from agent.server import build_agent, run_with_cancels
from bus.connect import connect
from common import subjects
from common.config import AgentConfig, ApiKey, ControllerConfig, admin_key, hash_key
from common.job import FINAL_STATUSES
from common.signing import Verifier, load_public, write_keypair
from controller.server import serve as serve_controller
from devstack.process import free_port
from devstack.until import until
from tests.catalogs import restored_tables

ADMIN_KEY = "test-admin-key"
READER_KEY = "test-reader-key"


@dataclass
class RunningAgent:
    agent: Agent
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        """Graceful: drain, say offline."""
        self.stop.set()
        await self.task
        await self.agent.nc.close()
        self.agent.runtime.journal.close()

    async def crash(self) -> None:
        """As if SIGKILLed: no goodbye, nothing acked that was not acked already."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await close_mid_reconnect(self.agent.nc)
        self.agent.runtime.journal.close()


@dataclass
class Stack:
    nats_url: str
    redis_url: str
    api: httpx.AsyncClient
    public_key: Path
    agents: dict[str, RunningAgent] = field(default_factory=dict)
    workdir: Path | None = None  # agents keep their journals under it

    async def start_agent(
        self,
        hostname: str,
        labels: dict[str, str] | None = None,
        allow: tuple[str, ...] = (),
        max_concurrency: int = 4,
        **settings: Any,
    ) -> Agent:
        journal = self.workdir / "journal" if self.workdir else None
        values: dict[str, Any] = dict(
            nats_url=self.nats_url,
            hostname=hostname,
            labels=labels or {},
            allow=allow,
            max_concurrency=max_concurrency,
            heartbeat_interval=1.0,
            public_key=str(self.public_key),
            journal_dir=str(journal) if journal else "",
        )
        config = AgentConfig(**{**values, **settings})
        nc = await connect(config.nats_url, hostname, subjects.inbox_prefix(hostname))
        agent = build_agent(config, nc, Verifier(load_public(config.public_key)))
        stop = asyncio.Event()
        task = asyncio.create_task(run_with_cancels(agent, stop))
        await wait_for_event(agent.ready, task)
        self.agents[hostname] = RunningAgent(agent, stop, task)
        await until(lambda: self.registered(hostname), f"{hostname} registered")
        return agent

    async def registered(self, hostname: str) -> bool:
        response = await self.api.get(f"/agent/{hostname}")
        return response.status_code == 200 and response.json()["state"] == "online"

    async def submit(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        job_timeout: float | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "operation": {"type": operation, "data": data or {}},
            "target": target,
        }
        if job_timeout is not None:
            body["timeout"] = job_timeout
        response = await self.api.post("/job", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["job_id"])

    async def detail(self, job_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/job/{job_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def final(self, job_id: str, within: float = 30.0) -> dict[str, Any]:
        """The detail once the job reached a final status."""
        found: dict[str, Any] = {}

        async def done() -> bool:
            found.update(await self.detail(job_id))
            return found["status"] in FINAL_STATUSES

        await until(done, f"job {job_id} final", within)
        return found


async def close_mid_reconnect(nc: NATS) -> None:
    """Close a connection that may be reconnecting: nats-py's close then cancels
    the reconnect task while it waits on the old socket, and that wait's
    cancellation escapes ``close()``; only a cancel of this task is re-raised."""
    try:
        await nc.close()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def wait_for_event(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait for ``event``, surfacing the task's error if it dies first."""
    waiter = asyncio.create_task(event.wait())
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        task.result()
        raise AssertionError("task ended before it was ready")


def controller_config(
    nats_url: str, redis_url: str, signing_key: Path, port: int, **overrides: Any
) -> ControllerConfig:
    reader = ApiKey(
        name="reader", sha256=hash_key(READER_KEY), scopes=frozenset({"job:read", "agent:read"})
    )
    values: dict[str, Any] = dict(
        nats_url=nats_url,
        redis_url=redis_url,
        port=port,
        signing_key=str(signing_key),
        api_keys=(admin_key(ADMIN_KEY), reader),
        sweep_interval=0.2,
        heartbeat_timeout=15.0,
    )
    values.update(overrides)
    return ControllerConfig(**values)


@contextlib.asynccontextmanager
async def running_stack(
    nats_url: str, redis_url: str, workdir: Path, **overrides: Any
) -> AsyncIterator[Stack]:
    # The controller adds the installed plugin families to this process's
    # operation table, its agents bind handlers: both undone afterwards.
    with restored_tables():
        async with _running_stack(nats_url, redis_url, workdir, **overrides) as stack:
            yield stack


@contextlib.asynccontextmanager
async def serving(
    config: ControllerConfig,
) -> AsyncIterator[tuple[httpx.AsyncClient, Callable[[], Awaitable[None]]]]:
    """A controller serving ``config`` in this process, an admin client of its API,
    and a call that stops the controller early (it is stopped on exit anyway)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve_controller(config, stop, ready))
    await wait_for_event(ready, task)
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{config.port}",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10.0,
    )

    async def halt() -> None:
        stop.set()
        await task

    try:
        yield api, halt
    finally:
        await api.aclose()
        await halt()


@contextlib.asynccontextmanager
async def _running_stack(
    nats_url: str, redis_url: str, workdir: Path, **overrides: Any
) -> AsyncIterator[Stack]:
    private, public = write_keypair(workdir / "keys")
    config = controller_config(nats_url, redis_url, private, free_port(), **overrides)
    async with serving(config) as (api, _):
        stack = Stack(
            nats_url=nats_url, redis_url=redis_url, api=api, public_key=public, workdir=workdir
        )
        try:
            yield stack
        finally:
            for running in stack.agents.values():
                if not running.task.done():
                    await running.shutdown()
