"""corral on a three-node NATS cluster, for the ``cluster-swarm`` bench group. I/O: processes.

The nodes run the shipped configs (``deploy/nats/cluster/``, through
:mod:`devstack.nats_cluster`: only ports and paths replaced) with R3
streams (``CORRAL_STREAM_REPLICAS=3``); a redis-server of its own; one
controller on ``nats-1`` as the ``controller`` user of the shipped accounts
file, with that user's subject permissions. Swarm processes are spread over
the three nodes in turn.

The swarms connect as a ``bench`` user with no permission list (everything
in the CORRAL account): one swarm connection speaks for thousands of hosts,
and the shipped permissions give each host a user of its own. So the
broker's per-message permission check of a real agent's connection is not
measured (nats-server caches those decisions per subject).
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from typing import Any

from bench.stack import BenchFailure, Stack
from common import subjects
from controller.store.agents import AGENTS
from devstack.nats_cluster import CLUSTER_CONFIGS, NODES, NatsCluster, fill_accounts, start_cluster
from devstack.process import ServerError, ServerProcess
from devstack.redis_server import start_redis
from devstack.until import until

EXAMPLE_HOST = "web-1~2Eexample~2Ecom"  # the shipped agent block's encoded host
USERS_OPEN = "    users: [\n"  # the CORRAL account's user list in the shipped file
BENCH_USER = "bench"


def accounts(controller_password: str, bench_password: str) -> str:
    """The shipped accounts file filled in: the controller, no agent host, and ``bench``."""
    shipped = (CLUSTER_CONFIGS / "accounts.conf").read_text()
    users = {"controller": controller_password, "admin": secrets.token_hex(12)}
    filled = fill_accounts(shipped, users, {}, EXAMPLE_HOST, subjects.encode_token)
    at = filled.index(USERS_OPEN) + len(USERS_OPEN)
    bench = f'      {{ user: {BENCH_USER}, password: "{bench_password}" }}\n'
    return filled[:at] + bench + filled[at:]


class ClusterServers:
    """Three NATS nodes and a Redis under ``root``; the stack's ``nats`` is ``nats-1``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.controller_password = secrets.token_hex(12)
        self.bench_password = secrets.token_hex(12)
        self._cluster: NatsCluster | None = None
        self._redis: ServerProcess | None = None

    @property
    def cluster(self) -> NatsCluster:
        if self._cluster is None:
            raise ServerError("the NATS cluster is not started")
        return self._cluster

    @property
    def nats(self) -> ServerProcess:
        return self.cluster.nodes[NODES[0]]

    @property
    def redis(self) -> ServerProcess:
        if self._redis is None:
            raise ServerError("redis-server is not started")
        return self._redis

    def start(self) -> ClusterServers:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            text = accounts(self.controller_password, self.bench_password)
            self._cluster = start_cluster(self.root / "nats", text)
            self._redis = start_redis(self.root / "redis")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Redis, then the three nodes (their logs stay under ``root``)."""
        try:
            if self._redis is not None:
                self._redis.stop()
        finally:
            if self._cluster is not None:
                self._cluster.stop()
            self._redis = self._cluster = None

    def node_pids(self) -> dict[str, int]:
        return {name: server.pid for name, server in self.cluster.nodes.items()}

    def bench_url(self, node: str) -> str:
        return self.cluster.url(node, BENCH_USER, self.bench_password)


class ClusterStack(Stack):
    """The bench's :class:`Stack` on a :class:`ClusterServers`: R3 streams, swarms per node."""

    def __init__(self, servers: ClusterServers) -> None:
        super().__init__(servers)
        self.cluster_servers = servers

    @property
    def nats_url(self) -> str:
        """The controller's: its own user on ``nats-1``."""
        return self.cluster_servers.cluster.url(
            NODES[0], "controller", self.cluster_servers.controller_password
        )

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return super().spawn(name, *args, env={"CORRAL_STREAM_REPLICAS": "3", **(env or {})})

    def processes(self) -> dict[str, int]:
        found = super().processes()
        del found["nats-server"]  # the parent's entry names only nats-1
        return {**found, **self.cluster_servers.node_pids()}

    async def start_swarms(self, counts: list[int], within: float) -> list[str]:
        """One swarm process per entry of ``counts``, on the nodes in turn; until all
        are online. Returns the nodes they went to."""
        nodes = [NODES[index % len(NODES)] for index in range(len(counts))]
        for index, (count, node) in enumerate(zip(counts, nodes, strict=True)):
            env = {"CORRAL_NATS_URL": self.cluster_servers.bench_url(node)}
            args = ("agent", "swarm", "--count", str(count), "--prefix", f"s{index}")
            self.agents.append(self.spawn(f"swarm-{index}", *args, env=env))
        await self.wait_registered(sum(counts), within)
        return nodes

    async def wait_registered(self, count: int, within: float) -> None:
        """Until ``count`` agents are online: first the registry's copy in Redis
        (one HLEN a second; this stack's Redis is fresh), then the API once a second
        (a 30,000-agent ``GET /agent`` is megabytes: no 20 ms polling of it)."""

        async def registered() -> bool:
            self.check_alive()
            self.check_swarms()
            return int(await self.redis.hlen(AGENTS)) >= count

        async def online() -> bool:
            return len(await self.online()) == count

        await until(registered, f"{count} agents registered", within, interval=1.0)
        await until(online, f"{count} agents online", 60, interval=1.0)

    def check_swarms(self) -> None:
        for child in self.agents:
            if child.poll() is not None:
                name = self.names[child.pid]
                raise BenchFailure(f"{name} exited; see {self.root / name}.log")

    async def stop_agents(self) -> None:
        """SIGTERM the swarms and reap them; not waiting for the registry to see
        them go, since the whole stack goes next."""
        await self.stop_agents_hard()


async def used_memory(stack: Stack) -> int:
    """Redis ``used_memory`` (bytes the allocator holds for data), from ``INFO memory``."""
    info: dict[str, Any] = await stack.redis.info("memory")
    return int(info["used_memory"])
