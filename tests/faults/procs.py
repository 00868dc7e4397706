"""Controllers and agents as separate OS processes, driven by PID. I/O: processes, files.

Each process is ``python -m cli.main controller|agent --config <toml>``, as
``corral dev up`` starts them, in its own session (so a signal reaches only
it), with stdout and stderr appended to one log file in JSON lines. A
restart reuses the same argv, config file, port and journal directory.

Readiness is read from the log (``controller_ready`` / ``agent_ready``
lines), polled against a deadline, never assumed after a sleep. The servers
(nats-server, redis-server) are :class:`devstack.process.ServerProcess`
objects, which already kill, pause, resume and restart on the same port and
data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_WITHIN = 30.0


def toml_value(value: Any) -> str:
    """Just enough TOML for our config files: scalars, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return "[" + ", ".join(toml_value(v) for v in items) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, section: str, values: dict[str, Any]) -> Path:
    tables = {
        k: v for k, v in values.items() if isinstance(v, list) and v and isinstance(v[0], dict)
    }
    lines = [f"[{section}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if k not in tables]
    for name, rows in tables.items():
        for row in rows:
            lines.append(f"[[{section}.{name}]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in row.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class CorralProcess:
    """One controller or agent process; every signal goes to its PID."""

    def __init__(
        self,
        role: str,
        name: str,
        config: Path,
        log_path: Path,
        env: dict[str, str],
        module: str = "cli.main",
    ):
        self.role = role
        self.module = module  # a test launcher may wrap cli.main (skewed_agent)
        self.name = name
        self.config = config
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        argv = [sys.executable, "-m", self.module, self.role, "--config", str(self.config)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    async def wait_ready(self, within: float = READY_WITHIN) -> None:
        """Until this start logged its ``<role>_ready`` line; fail if it exits."""
        marker = f"{self.role}_ready"
        deadline = time.monotonic() + within
        while sum(1 for line in self.log() if line.get("event") == marker) < self.starts:
            if not self.running:
                raise AssertionError(f"{self.name} exited: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready in {within}s: {self.tail()}")
            await asyncio.sleep(0.05)

    async def launch(self) -> CorralProcess:
        self.start()
        await self.wait_ready()
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, nothing said goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP; returns once the kernel reports the process stopped."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        os.waitid(os.P_PID, self.pid, os.WSTOPPED | os.WNOWAIT)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    async def restart(self) -> None:
        """Kill if needed, start with the same config, wait until ready."""
        self.kill()
        await self.launch()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (drain), SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a paused process cannot drain
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (other lines, e.g. a traceback, are skipped)."""
        lines: list[dict[str, Any]] = []
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return lines
        for raw in text.splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    continue
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("event") == name]

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return "(no log)"
