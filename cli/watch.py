"""``corral job watch`` and ``--watch``: a job followed live over SSE. I/O: HTTP, terminal.

On a terminal, a rich live view redrawn a few times a second: a progress
bar of agents finished out of expected, counts by per-agent status, the
slowest agents still running; off a terminal (a pipe, a log file), one
plain line per change (cli/progress.py). Either way the stream is the
SDK's :meth:`corral_sdk.client.Client.watch`, resumed from the last event
id if the connection drops, and the job's final detail is what follows.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cli.output import Format, emit
from cli.progress import JobProgress, exit_code, plain_lines
from cli.render import print_detail
from common.detail import JobDetail
from common.job import FINAL_STATUSES
from corral_sdk.sse import JobEvent

if TYPE_CHECKING:
    from corral_sdk.client import Client

_VIEW = "agents finished, counts by state, the slowest still running"
_EXIT_CODES = "Exit code: 0 completed; 1 failed, partial_failure or cancelled; 2 API error."
WATCH_HELP = f"Follow the job live ({_VIEW}), then print its detail. {_EXIT_CODES}"
JOB_WATCH_HELP = f"Follow job JOB_ID live ({_VIEW}), then print its detail.\n\n{_EXIT_CODES}"
RESUMES = 3  # reconnections after a dropped stream before giving up
RESUME_PAUSE = 0.5  # seconds, times the number of drops so far
REFRESH_PER_SECOND = 4  # the running agents' seconds tick while no event comes
STYLES = {
    "pending": "dim",
    "acknowledged": "blue",
    "started": "cyan",
    "retried": "yellow",
    "completed": "green",
    "failed": "red",
    "skipped": "magenta",
    "cancelled": "yellow",
    "timeout": "red",
    "partial_failure": "yellow",
}
OnEvent = Callable[[JobEvent, list[str]], None]


def live_frame(progress: JobProgress, now: float) -> RenderableType:
    """One frame of the live view; built whole, so drawing it reads no shared state."""
    status = progress.status
    head = Text.assemble(
        ("job ", "bold"),
        progress.job_id,
        "  ",
        progress.operation,
        "  ",
        (status, f"bold {STYLES.get(status, '')}"),
    )
    bar = Table.grid(padding=(0, 2))
    bar.add_row(
        ProgressBar(total=progress.expected, completed=progress.finished, width=40),
        f"{progress.finished}/{progress.expected} agents finished",
    )
    counts = Text("  ").join(
        Text(f"{name} {count}", style=STYLES.get(name, "") if count else "dim")
        for name, count in progress.counts().items()
    )
    parts: list[RenderableType] = [head, bar, counts]
    running = progress.slowest(now)
    if running:
        slowest = Table("still running (slowest first)", "status", "seconds", box=None)
        for agent in running:
            slowest.add_row(agent.hostname, agent.status, f"{agent.seconds:.1f}")
        parts.append(slowest)
    return Group(*parts)


def _stream(client: Client, progress: JobProgress, lock: threading.Lock, on: OnEvent) -> None:
    """Take every event until the final one or the stream's end; resume after a drop."""
    import httpx

    drops = 0
    while progress.final is None:
        try:
            for event in client.watch(progress.job_id, progress.last_id):
                with lock:
                    changed = progress.take(event)
                on(event, changed)
            return
        except httpx.TransportError:
            drops += 1
            if progress.last_id is None or drops > RESUMES:
                raise  # never connected (a wrong --url), or gone for good
            time.sleep(RESUME_PAUSE * drops)  # a controller restarting takes a moment


def follow(
    client: Client, job_id: str, console: Console, clock: Callable[[], float] = time.time
) -> JobDetail | None:
    """Show the job live on ``console`` until it is final; its final detail, or None if
    the stream ended first and the job is still running."""
    progress = JobProgress(job_id)
    lock = threading.Lock()
    if console.is_terminal:

        def frame() -> RenderableType:
            with lock:  # the refresh thread draws while the stream takes events
                return live_frame(progress, clock())

        with Live(get_renderable=frame, console=console, refresh_per_second=REFRESH_PER_SECOND):
            _stream(client, progress, lock, lambda event, changed: None)
    else:

        def lines(event: JobEvent, changed: list[str]) -> None:
            for line in plain_lines(progress, changed, event):
                click.echo(line, err=console.stderr)

        _stream(client, progress, lock, lines)
    if progress.final is not None:
        return progress.final
    detail = client.job(job_id)  # the stream ended early: the server may have stopped
    return detail if detail.status in FINAL_STATUSES else None


def watch_and_show(client: Client, job_id: str, output: Format) -> None:
    """Follow the job, print its final detail, exit 0 if completed, else 1.

    With ``-o json|yaml`` the live view goes to stderr and stdout carries
    the final detail alone, for scripts.
    """
    try:
        final = follow(client, job_id, Console(stderr=output != "table"))
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching; the job goes on: corral job watch {job_id}", err=True)
        sys.exit(130)
    if final is None:
        click.echo(f"error: the stream of job {job_id} ended before the job did", err=True)
        sys.exit(2)
    emit(final, output, print_detail)
    sys.exit(exit_code(final.status))
