"""The system under test: embedded servers, a controller (one process or N workers), agents.

I/O: processes, HTTP, Redis. Every process is started here and stopped here
by its PID (agents first, with SIGTERM so they say goodbye). Logs go to
files under the run's directory, read only when something fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import httpx
from redis.asyncio import Redis

from common.signing import write_keypair
from devstack.process import ServerProcess, free_port
from devstack.until import until


class BenchFailure(AssertionError):
    """A scenario's correctness check failed: the run stops loudly."""


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchFailure(f"no VmRSS for pid {pid}")


class Servers(Protocol):
    """What the stack runs on: a run directory, a NATS server (the one the
    controller uses) and a Redis server; devstack's ``EmbeddedServers`` is one."""

    @property
    def root(self) -> Path: ...

    @property
    def nats(self) -> ServerProcess: ...

    @property
    def redis(self) -> ServerProcess: ...


class Stack:
    """Servers + controller; agents and swarms come and go per scenario."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers
        self.root = servers.root
        self.api_key = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.private, self.public = write_keypair(self.root / "keys")
        self.controller: subprocess.Popen[bytes] | None = None
        self.workers = 1  # controller processes sharing the port (controller/workers.py)
        self.agents: list[subprocess.Popen[bytes]] = []
        self.names: dict[int, str] = {}  # pid -> the name its log file has
        self.api = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30.0,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.redis = Redis.from_url(servers.redis.url)

    @property
    def nats_url(self) -> str:
        return str(self.servers.nats.url)

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``python -m cli.main *args`` logging to ``<name>.log``; ``env`` on top of the stack's."""
        environment = {
            **os.environ,
            "CORRAL_API_KEY": self.api_key,
            "CORRAL_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
            "CORRAL_NATS_URL": self.nats_url,
            "CORRAL_PUBLIC_KEY": str(self.public),
            # Each run's agents journal under its own root, not in the user's
            # state directory, where every earlier run's jobs would still be.
            "CORRAL_JOURNAL_DIR": str(self.root / "journals"),
            **(env or {}),
        }
        log = (self.root / f"{name}.log").open("ab")
        child = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args], env=environment, stdout=log, stderr=log
        )
        self.names[child.pid] = name
        return child

    async def start_controller(self, workers: int = 1) -> None:
        self.workers = workers
        self.controller = self.spawn(
            "controller",
            "controller",
            "--redis-url",
            str(self.servers.redis.url),
            "--port",
            str(self.port),
            "--signing-key",
            str(self.private),
            "--workers",
            str(workers),
        )

        async def ready() -> bool:
            self.check_alive()
            try:
                return (await self.api.get("/health/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await until(ready, "the controller", 60)
        # /health/ready answered from one worker. A keep-alive connection opened
        # before another worker listens would stay with this one for a whole round.
        await until(self.all_listening, "every controller worker listening", 60)

    def all_listening(self) -> bool:
        pids = self.controller_pids()
        return len(pids) == self.workers and all(listens(pid, self.port) for pid in pids)

    async def stop_controller(self) -> None:
        """SIGTERM the controller (every worker with it) and reap it."""
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(signal.SIGCONT)
            self.controller.send_signal(signal.SIGTERM)
            await asyncio.to_thread(_reap, self.controller)
        self.controller = None

    async def restart_controller(self, workers: int) -> None:
        await self.stop_controller()
        await self.start_controller(workers)

    def controller_pids(self) -> list[int]:
        """The processes that serve: the controller, or its workers (not their parent)."""
        if self.controller is None:
            return []
        if self.workers == 1:
            return [self.controller.pid]
        return children_of(self.controller.pid)

    def processes(self) -> dict[str, int]:
        """Every process of the system under test by name (the load generator is not one)."""
        found: dict[str, int] = {}
        if self.controller is not None:
            # With workers, "controller" is their parent, which only waits.
            found["controller"] = self.controller.pid
            if self.workers > 1:
                for index, pid in enumerate(self.controller_pids()):
                    found[f"controller worker {index}"] = pid
        for child in self.agents:
            found[self.names[child.pid]] = child.pid
        found["nats-server"] = self.servers.nats.pid
        found["redis-server"] = self.servers.redis.pid
        return found

    def check_alive(self) -> None:
        if self.controller is not None and self.controller.poll() is not None:
            raise BenchFailure(f"the controller exited; see {self.root / 'controller.log'}")

    async def online(self) -> dict[str, Any]:
        response = await self.api.get("/agent")
        response.raise_for_status()
        items = response.json()["items"]
        return {a["hostname"]: a for a in items if a["state"] == "online"}

    async def wait_online(self, count: int, within: float) -> None:
        async def enough() -> bool:
            self.check_alive()
            return len(await self.online()) == count

        await until(enough, f"{count} agents online", within)

    async def start_agents(self, count: int, prefix: str = "agent") -> list[str]:
        hostnames = [f"{prefix}-{index:03d}.bench" for index in range(count)]
        for hostname in hostnames:
            self.agents.append(
                self.spawn(hostname, "agent", "--hostname", hostname, "--label", "bench=proc")
            )
        await self.wait_online(count, 60 + count)
        return hostnames

    async def start_swarm(self, count: int, within: float) -> subprocess.Popen[bytes]:
        swarm = self.spawn(f"swarm-{count}", "agent", "swarm", "--count", str(count))
        self.agents.append(swarm)
        await self.wait_online(count, within)
        return swarm

    async def stop_agents(self) -> None:
        """SIGTERM every agent process; they drain and say offline."""
        for child in self.agents:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.agents:
            await asyncio.to_thread(_reap, child)
        self.agents.clear()
        await self.wait_online(0, 60)

    def pause_controller(self) -> None:
        for pid in self.controller_pids():
            os.kill(pid, signal.SIGSTOP)

    def resume_controller(self) -> None:
        for pid in self.controller_pids():
            os.kill(pid, signal.SIGCONT)

    async def close(self) -> None:
        await self.stop_agents_hard()
        await self.stop_controller()
        await self.api.aclose()
        await self.redis.aclose()

    async def stop_agents_hard(self) -> None:
        for child in self.agents:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.agents:
            await asyncio.to_thread(_reap, child)
        self.agents.clear()


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, oldest (lowest pid) first, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def _reap(child: subprocess.Popen[bytes]) -> None:
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
