"""``corral job watch`` and ``--watch`` against a real stack: plain lines off a terminal,
and the rich live view in a real terminal (tmux) with the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from rich.console import Console

from cli.main import main
from cli.progress import JobProgress
from cli.watch import live_frame
from corral_sdk.sse import Snapshot
from devstack.until import until
from tests.cli.test_operations import _logs_apart  # noqa: F401 - autouse fixture
from tests.cli.test_progress import CREATED, JOB, detail, state
from tests.harness import ADMIN_KEY, Stack

HOSTS = ("db-1.test", "web-1.test", "web-2.test")
ROOT = Path(__file__).resolve().parents[2]
# What makes rich take a pipe for a terminal, or a terminal for a dumb one (CI sets
# some): left out of the CLI's environment, so each test gets the mode it checks.
RICH_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS")


def test_the_live_frame_shows_the_bar_the_counts_and_the_slowest() -> None:
    progress = JobProgress(JOB)
    states = {"db-1": state("completed", started=0), "web-1": state("started", started=1)}
    progress.take(Snapshot(id=1, detail=detail("processing", states)))
    console = Console(record=True, width=120, color_system=None)
    console.print(live_frame(progress, now=CREATED + 4))
    text = console.export_text()
    assert f"job {JOB}  test.sleep  processing" in text
    assert "━" in text  # the bar
    assert "1/2 agents finished" in text
    assert "pending 0  acknowledged 0  started 1  completed 1  failed 0" in text
    assert "web-1" in text
    assert "3.0" in text
    assert "db-1" not in text.split("still running")[1]


async def test_watch_off_a_terminal_prints_one_line_per_change_then_the_table(
    stack: Stack,
) -> None:
    for host in HOSTS[:2]:
        await stack.start_agent(host)
    job_id = await stack.submit("test.sleep", {"seconds": 120}, target="_all", job_timeout=150)
    env = {k: v for k, v in os.environ.items() if k not in RICH_ENV}
    env.update(CORRAL_URL=str(stack.api.base_url), CORRAL_API_KEY=ADMIN_KEY)
    watch = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "cli.main", "job", "watch", job_id),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert watch.stdout is not None
    # The job sleeps until cancelled: the first line is the state it was found in.
    first = (await watch.stdout.readline()).decode()
    assert first.startswith(f"job {job_id} test.sleep ")
    assert "/2 finished: pending=" in first
    cancel = await stack.api.post(f"/job/{job_id}/cancel")
    assert cancel.status_code == 202, cancel.text
    rest = (await watch.stdout.read()).decode()
    assert await watch.wait() == 1  # cancelled
    lines = rest.splitlines()
    cancelled = [line for line in lines if " cancelled (cancelled by request); " in line]
    assert sorted(line.split()[0] for line in cancelled) == list(HOSTS[:2])
    assert cancelled[-1].endswith("; 2/2 finished")
    summary = f"job {job_id} test.sleep cancelled, 2/2 finished: "
    assert sum(line.startswith(summary) for line in lines) == 1
    table = rest.split(summary)[1]
    assert "\x1b[" not in first + rest  # plain text: no terminal escapes
    assert all(re.search(rf"│ {re.escape(host)} +│ cancelled +│", table) for host in HOSTS[:2])


async def plain_corral(stack: Stack, *args: str) -> Result:
    """``corral ARGS`` with CliRunner, whose streams are no terminal, whatever rich is told."""
    env = {"CORRAL_URL": str(stack.api.base_url), "CORRAL_API_KEY": ADMIN_KEY}
    unset: dict[str, str | None] = dict.fromkeys(RICH_ENV)
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env={**env, **unset})


async def test_watch_with_json_or_yaml_prints_the_final_detail_alone_on_stdout(
    stack: Stack,
) -> None:
    await stack.start_agent(HOSTS[0])
    args = ("run", "test.fail", "--message", "boom", "--target", HOSTS[0], "--watch", "-o", "yaml")
    failed = await plain_corral(stack, *args)
    assert failed.exit_code == 1  # failed, partial_failure, cancelled: 1
    shown = yaml.safe_load(failed.stdout)
    assert (shown["status"], shown["error"]) == ("failed", "boom")
    assert f"job {shown['id']} test.fail failed, 1/1 finished: " in failed.stderr
    again = await plain_corral(stack, "job", "get", shown["id"], "-o", "json")
    assert json.loads(again.stdout) == shown
    ping = ("run", "test.ping", "--target", HOSTS[0], "--watch", "-o", "json")
    ran = await plain_corral(stack, *ping)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["status"] == "completed"


class Terminal:
    """A tmux server of the test's own, running one command in a 120x40 pane."""

    def __init__(self, folder: Path) -> None:
        self.server = f"corral-test-{uuid.uuid4().hex[:12]}"  # -L: a short socket name
        self.config = folder / "tmux.conf"
        # The pane stays after the command exits, with its last screen.
        self.config.write_text("set -g remain-on-exit on\n")

    async def tmux(self, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *("tmux", "-L", self.server, "-f", str(self.config), *args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode()

    async def start(self, command: list[str], env: dict[str, str]) -> None:
        line = ["env", *(f"-u{name}" for name in RICH_ENV), *(f"{k}={v}" for k, v in env.items())]
        # The shell says how the command exited: tmux's own #{pane_dead_status}
        # is sometimes left empty when the pane's output closes first.
        shell = f'{shlex.join([*line, *command])}; echo "exit status: $?"'
        await self.tmux(
            "new-session", "-d", "-s", "watch", "-x", "120", "-y", "40", "-c", str(ROOT), shell
        )

    async def screen(self) -> str:
        # From the history's start: tmux's "Pane is dead" line may scroll the screen.
        return await self.tmux("capture-pane", "-p", "-S", "-", "-t", "watch")

    async def exit_status(self) -> int | None:
        """The command's exit status, once it has printed it; None while it runs."""
        found = re.search(r"^exit status: (\d+)$", await self.screen(), re.MULTILINE)
        return None if found is None else int(found[1])

    async def stop(self) -> None:
        socket = Path((await self.tmux("display", "-p", "#{socket_path}")).strip())
        await self.tmux("kill-server")
        await asyncio.to_thread(socket.unlink, missing_ok=True)  # tmux leaves it behind


@pytest.fixture
async def terminal(tmp_path: Path) -> AsyncIterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux; .ci/run does it as root)")
    found = Terminal(tmp_path)
    yield found
    await found.stop()


async def test_job_watch_in_a_terminal_draws_the_live_view_then_the_final_table(
    stack: Stack, terminal: Terminal
) -> None:
    for host in HOSTS:
        await stack.start_agent(host)
    # Long enough that only the cancel below ends it: the live view is seen mid-job.
    job_id = await stack.submit("test.sleep", {"seconds": 120}, target="_all", job_timeout=150)
    env = {"CORRAL_URL": str(stack.api.base_url), "CORRAL_API_KEY": ADMIN_KEY}
    await terminal.start([sys.executable, "-m", "cli.main", "job", "watch", job_id], env)

    live = ""

    async def all_started() -> bool:
        nonlocal live
        live = await terminal.screen()
        return "started 3" in live

    await until(all_started, "the live view with three agents started")
    print(f"--- the live view ---\n{live}")
    assert f"job {job_id}  test.sleep  processing" in live
    assert "━" in live
    assert "0/3 agents finished" in live
    assert "still running (slowest first)" in live
    assert all(host in live for host in HOSTS)

    cancel = await stack.api.post(f"/job/{job_id}/cancel")
    assert cancel.status_code == 202, cancel.text
    status: int | None = None

    async def exited() -> bool:
        nonlocal status
        status = await terminal.exit_status()
        return status is not None

    await until(exited, "corral job watch to exit")
    final = await terminal.screen()
    print(f"--- the final screen ---\n{final}")
    assert status == 1  # cancelled
    last_frame = final.index(f"job {job_id}  test.sleep  cancelled")
    assert last_frame < final.index(f"job {job_id}  cancelled  test.sleep")  # then the table
    assert "3/3 agents finished" in final
    assert "cancelled 3" in final
    table = final.split(f"job {job_id}  cancelled  test.sleep")[1]  # print_detail's head
    assert "┃ agent" in table
    assert all(re.search(rf"│ {re.escape(host)} +│ cancelled +│", table) for host in HOSTS)
