"""The dev stack ``corral dev up`` runs: the whole system on one machine.

Starts nats-server and redis-server from the pip-installed binaries (unless
URLs of running ones are given), throwaway signing keys, a controller and
N agents, each its own process; prints where everything is; optionally runs
a demo broadcast; on Ctrl-C stops exactly the processes it started.
I/O: processes, HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

import httpx
from rich.console import Console
from rich.table import Table

from cli.options import DEFAULT_URL
from cli.watch import follow
from common.detail import JobDetail
from common.signing import write_keypair
from corral_sdk.client import Client
from devstack.process import free_port
from devstack.servers import EmbeddedServers
from devstack.until import until

console = Console(stderr=False)
# What `make run` suggests once the stack is up: a live broadcast, a change on
# every host (each dev agent's own root, never this machine's /etc), a drain.
TRY_NEXT = (
    "run test.sleep --seconds 3 --target _all --watch",
    "run file.deploy --path /etc/motd --content hello --target _all --wait",
    "agent drain web-1.dev.local",
)
AGENT_PLAN = [
    ("web-1.dev.local", "group=web.dev"),
    ("web-2.dev.local", "group=web.dev"),
    ("db-1.dev.local", "group=db.dev"),
]


# The only tools a dev agent finds on its host path: each agent plays a
# separate host with its own root for files, but tools act on this machine,
# so nothing that changes it (package managers, useradd, sysctl, hostname,
# shutdown...) is reachable: those operations answer `skipped`.
HARMLESS_TOOLS = ("ip", "ping", "journalctl", "dpkg-query", "apt-cache", "rpm", "uname", "getent")


def host_tools(folder: Path) -> Path:
    """A folder of links to the harmless tools this machine has: a dev agent's host path."""
    folder.mkdir(parents=True, exist_ok=True)
    for tool in HARMLESS_TOOLS:
        found = shutil.which(tool)
        if found is not None and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    return folder


def corral_program() -> str:
    """How to call corral here: ``corral`` if that is on PATH, else the script's own path
    (``make run`` runs .venv/bin/corral, often with .venv/bin not on PATH)."""
    script = Path(sys.argv[0]).resolve()
    found = shutil.which("corral")
    if script.name != "corral" or (found is not None and Path(found).resolve() == script):
        return "corral"
    return os.path.relpath(script)


def agent_identity(index: int) -> tuple[str, str]:
    """Hostname and label of the index-th dev agent: web-1, web-2, db-1, web-3, ..."""
    if index < len(AGENT_PLAN):
        return AGENT_PLAN[index]
    return f"web-{index}.dev.local", "group=web.dev"


class DevStack:
    def __init__(
        self,
        *,
        agent_count: int,
        port: int,
        nats_url: str | None,
        redis_url: str | None,
        api_key: str | None,
    ) -> None:
        self.agent_count = agent_count
        self.port = port
        self.nats_url = nats_url
        self.redis_url = redis_url
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "CORRAL_API_KEY": self.api_key,
            "CORRAL_LOG_LEVEL": os.environ.get("CORRAL_LOG_LEVEL", "warning"),
            **(env or {}),
        }
        # Its own session, like the embedded servers: a terminal's Ctrl-C
        # reaches only `dev up`, which then stops each child once, in order
        # (a second signal would make an agent skip its drain).
        child = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args], env=env, start_new_session=True
        )
        self.children.append(child)
        return child

    def run(self, *, demo: bool, exit_after_demo: bool) -> int:
        with contextlib.ExitStack() as stack:
            if not (self.nats_url and self.redis_url):
                servers = stack.enter_context(EmbeddedServers())
                self.nats_url = self.nats_url or servers.nats.url
                self.redis_url = self.redis_url or servers.redis.url
            keys = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="corral-dev-")))
            private, public = write_keypair(keys)
            stack.callback(self.stop_children)
            self.start(private, public)
            if demo:
                self.demo()
            self.next_steps()
            if exit_after_demo:
                return 0
            console.print("[bold]serving; Ctrl-C stops everything[/bold]")
            self.wait_for_signal()
        return 0

    def start(self, private: Path, public: Path) -> None:
        url = f"http://127.0.0.1:{self.port}"
        metrics_port = free_port()
        self.spawn(
            "controller",
            "--nats-url",
            str(self.nats_url),
            "--redis-url",
            str(self.redis_url),
            "--port",
            str(self.port),
            "--signing-key",
            str(private),
            "--metrics-port",
            str(metrics_port),
        )
        client = Client(url, self.api_key)

        def ready() -> bool:
            return client.http.get("/health/ready").status_code == 200

        def online() -> bool:
            states = [agent.state for agent in client.agents().items]
            return states.count("online") >= self.agent_count

        # Blocking checks, each wait on a loop of its own; while the controller
        # starts, a refused connection means "not yet".
        asyncio.run(until(ready, "the controller", ignore=(httpx.HTTPError,)))
        hosts = private.parent / "hosts"
        tools = host_tools(private.parent / "tools")
        for index in range(self.agent_count):
            hostname, label = agent_identity(index)
            root = hosts / hostname
            root.mkdir(parents=True)
            self.spawn(
                "agent",
                "--hostname",
                hostname,
                "--label",
                label,
                "--nats-url",
                str(self.nats_url),
                "--public-key",
                str(public),
                # Throwaway like the keys; one journal file per hostname inside.
                "--journal-dir",
                str(private.parent / "journal"),
                env={"CORRAL_HOST_ROOT": str(root), "CORRAL_HOST_PATH": str(tools)},
            )
        asyncio.run(until(online, "the agents", ignore=(httpx.HTTPError,)))
        console.print(
            f"[bold green]corral is up[/bold green]\n"
            f"  API:      {url}\n"
            f"  metrics:  http://127.0.0.1:{metrics_port}/metrics\n"
            f"  NATS:     {self.nats_url}\n"
            f"  Redis:    {self.redis_url}\n"
            f"  agents:   {self.agent_count}, each with its own host root for files under"
            f" {hosts}/<hostname>"
        )
        client.close()

    def demo(self) -> None:
        """A broadcast, followed live (cli/watch.py), then its answers as a compact table."""
        with Client(f"http://127.0.0.1:{self.port}", self.api_key) as client:
            job_id = client.submit("node.status.get", target="_all", timeout=30).job_id
            console.print("\n[bold]demo:[/bold] node.status.get on every agent (_all)")
            final = follow(client, job_id, console)
        if final is None:
            console.print(f"[red]job {job_id}: the stream ended before the job[/red]")
            return
        console.print(answers_table(final))

    def next_steps(self) -> None:
        """Where the console is, with the key to paste, and three commands worth trying."""
        url = f"http://127.0.0.1:{self.port}"
        env = f"CORRAL_API_KEY={self.api_key}"
        if url != DEFAULT_URL:
            env += f" CORRAL_URL={url}"
        program = corral_program()
        tries = "".join(f"\n  {env} {program} {command}" for command in TRY_NEXT)
        console.print(
            f"\n[bold]console:[/bold] {url}/ui  (paste the API key: {self.api_key})\n"
            f"[bold]try next:[/bold]{tries}",
            highlight=False,
            soft_wrap=True,  # whole lines, so each one can be copied as it is
        )

    def wait_for_signal(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not self.stopping.wait(1.0):
            if any(child.poll() is not None for child in self.children):
                console.print("[red]a corral process exited; stopping[/red]")
                return

    def stop_children(self) -> None:
        """SIGTERM what we started (agents first), then SIGKILL stragglers."""
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def answers_table(detail: JobDetail) -> Table:
    """One row per agent: its status, and a few figures of its node.status.get answer."""
    table = Table("agent", "status", "uptime (s)", "load (1 min)", "error")
    for host, answer in detail.responses.items():
        data = answer.data if isinstance(answer.data, dict) else {}
        uptime = data.get("uptime", {}).get("uptime")
        load = data.get("load", {}).get("load1")
        table.add_row(
            host,
            answer.status,
            "" if uptime is None else f"{uptime:,.0f}",
            "" if load is None else f"{load:.2f}",
            answer.error or "",
        )
    return table
