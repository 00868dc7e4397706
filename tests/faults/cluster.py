"""A whole corral of separate OS processes for fault injection. I/O: all of it.

:class:`Cluster` owns one nats-server and one redis-server (started here, in
its own directory, so a test may kill them), a signing key pair, and the
controllers, agents and proxies it starts. :meth:`Cluster.close` ends only
those, by PID. Both the fault tests and ``bench/soak.py`` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from redis.asyncio import Redis

from common import subjects
from common.config import SCOPES, hash_key
from common.job import FINAL_STATUSES
from common.signing import write_keypair
from controller.streams import any_consumer_config
from devstack.nats_server import start_nats
from devstack.process import ServerProcess, free_port
from devstack.redis_server import start_redis
from devstack.until import until
from tests.faults.checker import Checker
from tests.faults.procs import CorralProcess, write_config
from tests.faults.proxy import TcpProxy

ADMIN_KEY = "faults-admin-key"
READER_KEY = "faults-reader-key"
# Short enough that deadlines pass within a test, long enough for a loaded box.
SWEEP_INTERVAL = 0.2
# The test's own JetStream API calls: longer than nats-py's 5 s default, which
# a consumer update on a fresh R3 stream under the whole suite's load outlasted.
JS_API_TIMEOUT = 30.0
HEARTBEAT_INTERVAL = 0.5


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.nats: ServerProcess
        self.redis: ServerProcess
        self.private_key, self.public_key = write_keypair(root / "keys")
        self.controllers: dict[str, CorralProcess] = {}
        self.agents: dict[str, CorralProcess] = {}
        self.proxies: list[TcpProxy] = []
        self.api_port = 0
        self.api_ports: dict[str, int] = {}
        self.api: httpx.AsyncClient
        self.store: Redis
        self._bus: NATS | None = None
        self.bus_url = ""

    async def start_servers(self, nats_config: Path | None = None) -> None:
        # Blocking starts run off the loop: proxies live on it.
        self.nats = await asyncio.to_thread(start_nats, self.root / "nats", config_file=nats_config)
        self.bus_url = self.nats.url
        self.redis = await asyncio.to_thread(start_redis, self.root / "redis")
        self.store = Redis.from_url(self.redis.url, socket_timeout=5)

    async def proxy(self, upstream_port: int) -> TcpProxy:
        proxy = await TcpProxy(upstream_port).start()
        self.proxies.append(proxy)
        return proxy

    # -- corral processes -------------------------------------------------------

    async def add_controller(
        self, name: str = "c1", *, nats_url: str | None = None, **settings: Any
    ) -> CorralProcess:
        port = free_port()
        values: dict[str, Any] = {
            "nats_url": nats_url or self.nats.url,
            "redis_url": self.redis.url,
            "host": "127.0.0.1",
            "port": port,
            "name": name,
            "signing_key": str(self.private_key),
            "sweep_interval": SWEEP_INTERVAL,
            "heartbeat_timeout": 5.0,
            "default_timeout": 10.0,
            "log_format": "json",
            "log_level": "info",
            "api_keys": [
                {"name": "admin", "sha256": hash_key(ADMIN_KEY), "scopes": sorted(SCOPES)},
                {"name": "reader", "sha256": hash_key(READER_KEY), "scopes": ["job:read"]},
            ],
            **settings,
        }
        config = write_config(self.root / f"{name}.toml", "controller", values)
        proc = CorralProcess("controller", name, config, self.root / f"{name}.log", {})
        self.api_ports[name] = port
        self.controllers[name] = proc
        await proc.launch()
        if not self.api_port:
            self.use_api(proc)
        return proc

    def use_api(self, controller: CorralProcess) -> None:
        """Point :attr:`api` at ``controller``."""
        self.api_port = self.api_ports[controller.name]
        self.api = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=15.0,
        )

    async def add_agent(
        self,
        hostname: str,
        labels: dict[str, str] | None = None,
        *,
        nats_url: str | None = None,
        env: dict[str, str] | None = None,
        module: str = "cli.main",
        **settings: Any,
    ) -> CorralProcess:
        workdir = self.root / f"agent-{hostname}"
        workdir.mkdir(parents=True, exist_ok=True)
        values: dict[str, Any] = {
            "nats_url": nats_url or self.nats.url,
            "hostname": hostname,
            "labels": labels or {},
            "public_key": str(self.public_key),
            "journal_dir": str(workdir / "journal"),
            "heartbeat_interval": HEARTBEAT_INTERVAL,
            "max_concurrency": 4,
            "log_format": "json",
            "log_level": "info",
            **settings,
        }
        config = write_config(workdir / "agent.toml", "agent", values)
        # FAULT_HOST lets a side-effect command write which agent ran it.
        env = {"FAULT_HOST": hostname, **(env or {})}
        proc = CorralProcess("agent", hostname, config, workdir / "agent.log", env, module)
        self.agents[hostname] = proc
        await proc.launch()
        await self.online(hostname)
        return proc

    async def online(self, hostname: str) -> None:
        async def seen() -> bool:
            response = await self.api.get(f"/agent/{hostname}")
            return response.status_code == 200 and response.json()["state"] == "online"

        await until(seen, f"{hostname} online")

    # -- jobs -------------------------------------------------------------------

    async def submit(
        self,
        operation: str,
        data: dict[str, Any] | None = None,
        target: str = "_any",
        job_timeout: float | None = None,
    ) -> str:
        body: dict[str, Any] = {"operation": {"type": operation, "data": data or {}}}
        body["target"] = target
        if job_timeout is not None:
            body["timeout"] = job_timeout
        response = await self.api.post("/job", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["job_id"])

    async def detail(self, job_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/job/{job_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def final(self, job_id: str, within: float = 30.0) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def done() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                response = await self.api.get(f"/job/{job_id}")
                if response.status_code == 200:
                    found.update(response.json())
            return found.get("status") in FINAL_STATUSES

        await until(done, f"job {job_id} final", within)
        return found

    async def agent_reached(self, job_id: str, hostname: str, statuses: set[str]) -> None:
        async def there() -> bool:
            state = (await self.detail(job_id))["agent_states"].get(hostname) or {}
            return state.get("status") in statuses

        await until(there, f"{hostname} {statuses} on {job_id}")

    async def bus(self) -> NATS:
        """The test's own NATS connection, straight to the server (no proxy).

        ``bus_url`` may carry a user and password when the server enforces them.
        """
        if self._bus is None:
            self._bus = await nats.connect(
                self.bus_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
            )
        return self._bus

    async def js(self) -> JetStreamContext:
        """JetStream on :meth:`bus` for a change the test cannot go on without, its
        API calls given as long as a fresh three-node cluster on a loaded machine
        takes to answer (polled checks keep the short default and try again)."""
        return (await self.bus()).jetstream(timeout=JS_API_TIMEOUT)

    async def shared_ack_wait(self, seconds: float) -> None:
        """Give the shared ``corral-any`` consumer another ack wait (30 s as the
        controller makes it), so a redelivery comes within a test's time."""
        config = dataclasses.replace(any_consumer_config(), ack_wait=seconds)
        await (await self.js()).add_consumer(subjects.JOBS_STREAM, config)

    def refused(self, reason: str) -> dict[str, int]:
        """Agents that logged a refusal for ``reason``, with how many."""
        found = {
            name: sum(line.get("reason") == reason for line in proc.events("job_refused"))
            for name, proc in self.agents.items()
        }
        return {name: n for name, n in found.items() if n}

    async def jobs_settled(self) -> bool:
        """Every job message was acked or terminated by every consumer (none pending,
        none unacked): no redelivery is still to come."""
        js = (await self.bus()).jetstream()
        infos = await js.consumers_info(subjects.JOBS_STREAM)
        return all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos)

    async def events_settled(self) -> bool:
        """Every event on the bus was folded and acked (none pending, none unacked)."""
        info = (
            await (await self.bus())
            .jetstream()
            .consumer_info(subjects.EVENTS_STREAM, subjects.COLLECTOR_CONSUMER)
        )
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    def checker(self) -> Checker:
        return Checker(self.api, self.store)

    # -- teardown ---------------------------------------------------------------

    async def close(self) -> None:
        for proc in [*self.agents.values(), *self.controllers.values()]:
            await asyncio.to_thread(proc.stop)
        for proxy in self.proxies:
            await proxy.close()
        if self._bus is not None:
            await self._bus.close()
        if self.api_port:
            await self.api.aclose()
        with contextlib.suppress(AttributeError):
            await self.store.aclose()
        for server in ("redis", "nats"):
            found: ServerProcess | None = getattr(self, server, None)
            if found is not None:
                if found.running:
                    found.resume()  # a paused server cannot shut down
                await asyncio.to_thread(found.stop)


@contextlib.asynccontextmanager
async def running_cluster(root: Path, nats_config: Path | None = None) -> AsyncIterator[Cluster]:
    cluster = Cluster(root)
    try:
        await cluster.start_servers(nats_config)
        yield cluster
    finally:
        await cluster.close()


def counter_op(counter: Path, seconds: float = 0.0) -> tuple[str, dict[str, Any], str]:
    """A side-effect job: append ``<token> <agent>`` to ``counter``, then sleep.

    Returns the operation, its data, and the token that names this submission
    in the counter file (the job id is not known before the submit).
    """
    token = uuid.uuid4().hex
    script = 'printf "%s %s\\n" "$1" "$FAULT_HOST" >> "$2"; sleep "$3"'
    argv = ["sh", "-c", script, "counter", token, str(counter), repr(seconds)]
    return "command.exec", {"argv": argv}, token
