"""A Redis Cluster of ``redis-server`` processes on loopback: masters and their replicas.

For the tests and the benchmarks. Does I/O: starts the processes (through
:mod:`devstack.redis_server`'s binary and :mod:`devstack.process`), then forms
the cluster from Python, as ``redis-cli --cluster create`` would, since no
``redis-cli`` may be at hand: distinct config epochs, slots split evenly over
the masters (``CLUSTER ADDSLOTS``: the shipped server is 6.2, without
``ADDSLOTSRANGE``), ``CLUSTER MEET``, ``CLUSTER REPLICATE``. Every wait is
:func:`devstack.until.until` on what the nodes report (``cluster_state:ok``,
every replica's link up), never a sleep.

Redis 6.2 puts a node's cluster bus on its port + 10000, so a node's port is
chosen with that one free too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.crc import key_slot

from devstack.process import HOST, ServerError, ServerProcess, find_binary, free_port, start_server
from devstack.redis_server import check_redis
from devstack.until import until

SLOTS = 16384
BUS_OFFSET = 10000  # Redis 6.2: the cluster bus listens on port + 10000
NODE_TIMEOUT_MS = 1000  # a dead master's replica takes over about a second later
SCHEME = "redis+cluster"


def _port_with_bus() -> int:
    """A free loopback port whose cluster bus port (+10000) is free as well."""
    for _ in range(100):
        port = free_port()
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port + BUS_OFFSET))
            except OSError:
                continue
        return port
    raise ServerError("no free port pair for a cluster node")


def start_node(data_dir: Path, node_timeout_ms: int = NODE_TIMEOUT_MS) -> ServerProcess:
    """One ``cluster-enabled`` redis-server, answering PING, not yet in a cluster."""
    binary = find_binary("redis-server")

    def build(chosen: int, log_path: Path) -> tuple[list[str], str]:
        argv = [
            binary, "--bind", HOST, "--port", str(chosen), "--dir", str(data_dir),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            "--daemonize", "no", "--logfile", str(log_path),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
            # A replica may always take over, however long it was cut off.
            "--cluster-replica-validity-factor", "0",
            # Replicas sync at once, without waiting for more of them to come.
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        return argv, f"redis://{HOST}:{chosen}/0"

    return start_server("redis-server", data_dir, _port_with_bus(), build, check_redis)


@dataclass
class EmbeddedRedisCluster:
    """The nodes of one cluster (which are masters now: :meth:`roles`)."""

    nodes: list[ServerProcess]

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a seed (controller/store/redis.py)."""
        return f"{SCHEME}://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    async def roles(self) -> dict[int, str]:
        """Port -> ``master`` or ``slave`` for every running node, as the node says."""
        found: dict[int, str] = {}
        for node in self.nodes:
            if node.running:
                async with _client(node) as client:
                    role = await client.role()
                found[node.port] = _text(role[0])
        return found

    async def owner(self, key: str) -> ServerProcess:
        """The running master serving ``key``'s hash slot now."""
        slot = key_slot(key.encode())
        for node in await self.current_masters():
            async with _client(node) as client:
                listing = await client.cluster("NODES")  # parsed: address -> node
            mine = next(found for found in listing.values() if "myself" in found["flags"])
            # Ranges as ["first", "last"], or ["slot"] alone.
            if any(int(span[0]) <= slot <= int(span[-1]) for span in mine["slots"]):
                return node
        raise ServerError(f"no running master serves slot {slot}")

    async def current_masters(self) -> list[ServerProcess]:
        roles = await self.roles()
        return [node for node in self.nodes if roles.get(node.port) == "master"]

    async def healthy(self) -> bool:
        """Every running node sees the cluster ok, and every replica's link to its master is up."""
        for node in self.nodes:
            if not node.running:
                continue
            async with _client(node) as client:
                info = await client.cluster("INFO")  # parsed: a dict
                if info["cluster_state"] != "ok":
                    return False
                replication = await client.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.asynccontextmanager
async def _client(node: ServerProcess) -> AsyncIterator[Redis]:
    client = Redis(host=HOST, port=node.port, socket_timeout=5, socket_connect_timeout=2)
    try:
        yield client
    finally:
        await client.aclose()


async def _node_id(node: ServerProcess) -> str:
    async with _client(node) as client:
        return _text(await client.cluster("MYID"))


async def _known_nodes(node: ServerProcess) -> int:
    """Nodes ``node`` has finished its handshake with, itself included."""
    async with _client(node) as client:
        listing = await client.cluster("NODES")  # parsed: address -> node
    return sum(
        found["connected"] and "handshake" not in found["flags"] for found in listing.values()
    )


async def _form(nodes: list[ServerProcess], masters: int, within: float) -> None:
    ids = [await _node_id(node) for node in nodes]
    per_master = -(-SLOTS // masters)
    for index, node in enumerate(nodes):
        async with _client(node) as client:
            # Distinct epochs up front, as redis-cli does: no collisions to resolve.
            await client.cluster("SET-CONFIG-EPOCH", index + 1)
            if index < masters:
                first, last = index * per_master, min(SLOTS, (index + 1) * per_master)
                await client.cluster("ADDSLOTS", *range(first, last))
    async with _client(nodes[0]) as client:
        for node in nodes[1:]:
            await client.cluster("MEET", HOST, node.port)

    async def all_met() -> bool:
        return all([await _known_nodes(node) == len(nodes) for node in nodes])

    await until(all_met, "every cluster node to know every other", within)
    for index, node in enumerate(nodes[masters:]):
        async with _client(node) as client:
            await client.cluster("REPLICATE", ids[index % masters])


async def start_redis_cluster(
    root: Path,
    *,
    masters: int = 3,
    replicas: int = 1,
    node_timeout_ms: int = NODE_TIMEOUT_MS,
    within: float = 30.0,
) -> EmbeddedRedisCluster:
    """Start ``masters * (1 + replicas)`` nodes under ``root`` (one directory each) and
    form them into a cluster; returns once every node reports ``cluster_state:ok``
    and every replica is in sync with its master."""
    nodes: list[ServerProcess] = []
    cluster = EmbeddedRedisCluster(nodes)
    try:
        for index in range(masters * (1 + replicas)):
            # Blocking start (it waits for PING) off the loop.
            node = await asyncio.to_thread(start_node, root / f"node-{index}", node_timeout_ms)
            nodes.append(node)
        await _form(nodes, masters, within)
        await until(cluster.healthy, "the Redis Cluster to be ok and in sync", within)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def start_redis_cluster_sync(
    root: Path, *, masters: int = 3, replicas: int = 1
) -> EmbeddedRedisCluster:
    """:func:`start_redis_cluster` for synchronous callers, even inside a running loop
    (it runs in a thread of its own), such as session fixtures."""
    starting = start_redis_cluster(root, masters=masters, replicas=replicas)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, starting).result()
