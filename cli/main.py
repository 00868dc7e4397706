"""The ``corral`` command: daemons, the dev stack and a client. I/O: all kinds.

Heavy imports happen inside each command, so ``corral job get`` does not load
uvicorn, the agent never imports the controller, and only ``dev up`` imports
:mod:`devstack` (development only).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from bus.loop import run as run_loop
from cli.completion import completion_command
from cli.objects import object_group
from cli.operations import operation_group, run_group, submit_and_show
from cli.options import client_options, with_client
from cli.output import Format, emit, output_option
from cli.render import print_agents, print_detail, print_jobs
from cli.watch import JOB_WATCH_HELP, WATCH_HELP, watch_and_show
from common.config import ConfigError, load_agent, load_controller
from common.log import configure
from common.targets import TargetError, parse_labels

OWN_PACKAGES = frozenset({"common", "bus", "agent", "controller", "devstack", "cli", "bench"})


@contextlib.contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """A library this command needs is not installed: say which extra brings it.

    An agent host installs ``corral[agent]``, without the controller's
    libraries (pyproject.toml, docs/deployment.md).
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] in OWN_PACKAGES:
            raise
        raise click.ClickException(
            f"{exc.name} is not installed: this command needs pip install 'corral[{extra}]'"
        ) from None


@click.group()
def main() -> None:
    """corral: run operations on fleets of hosts."""


@main.command("controller")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)
@click.option("--nats-url")
@click.option("--redis-url")
@click.option("--host")
@click.option("--port", type=int)
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics on this port.")
@click.option("--signing-key", type=click.Path(exists=True, dir_okay=False))
@click.option("--log-format", type=click.Choice(["console", "json"]))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="CORRAL_WORKERS",
    help="Controller processes sharing the HTTP port, one core each (docs/scaling.md).",
)
def controller_command(config_file: str | None, workers: int, **flags: Any) -> None:
    """Run the controller: HTTP API, event collector, sweeper."""
    with needs_extra("controller"):
        from controller.server import load_plugins
        from controller.server import main as run_controller
        from controller.workers import check_workers, run_workers

    try:
        load_plugins()  # before the keys are checked: a plugin's family brings scopes
        config = load_controller(os.environ, flags, config_file)
        check_workers(config, workers)
    except (ConfigError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    configure(config.log_format, config.log_level, config.redact_patterns)
    if workers > 1:
        sys.exit(run_workers(config, workers))
    run_loop(run_controller(config), os.environ)


@main.group("agent", invoke_without_command=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None)
@click.option("--hostname")
@click.option("--label", "labels", multiple=True, help="key=value; repeatable.")
@click.option("--nats-url")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False))
@click.option("--allow", multiple=True, help="Operation this agent may run; repeatable.")
@click.option("--max-concurrency", type=int)
@click.option("--journal-dir", help="Where the job journal lives (one file per hostname).")
@click.option("--log-format", type=click.Choice(["console", "json"]))
@click.pass_context
def agent_group(
    ctx: click.Context,
    /,
    config_file: str | None,
    labels: tuple[str, ...],
    allow: tuple[str, ...],
    **flags: Any,
) -> None:
    """Run an agent daemon (or: corral agent list)."""
    if ctx.invoked_subcommand is not None:
        return
    from agent.server import serve as run_agent

    try:
        overrides = dict(flags)
        overrides["labels"] = parse_labels(labels) if labels else None
        overrides["allow"] = list(allow) if allow else None
        config = load_agent(os.environ, overrides, config_file)
    except (ConfigError, TargetError) as exc:
        raise click.UsageError(str(exc)) from None
    configure(config.log_format, config.log_level)
    run_loop(run_agent(config), os.environ)


@agent_group.command("list")
@output_option
@client_options
def agent_list(output: Format, url: str, api_key: str) -> None:
    """List registered agents."""
    with_client(url, api_key, lambda c: emit(c.agents(), output, print_agents))


def print_agent(agent: dict[str, Any]) -> None:
    print_agents({"total_items": 1, "items": [agent]})


@agent_group.command("drain")
@click.argument("hostname")
@output_option
@client_options
def agent_drain(hostname: str, output: Format, url: str, api_key: str) -> None:
    """Take HOSTNAME out of rotation: it finishes what it runs, takes no new _any or
    broadcast work, and jobs addressed to it are refused until `corral agent undrain`."""
    with_client(url, api_key, lambda c: emit(c.drain(hostname), output, print_agent))


@agent_group.command("undrain")
@click.argument("hostname")
@output_option
@client_options
def agent_undrain(hostname: str, output: Format, url: str, api_key: str) -> None:
    """Put HOSTNAME back into rotation."""
    with_client(url, api_key, lambda c: emit(c.undrain(hostname), output, print_agent))


@agent_group.command("swarm")
@click.option("--count", type=click.IntRange(1, 20_000), required=True)
@click.option("--prefix", default="swarm", show_default=True, help="Hostnames: PREFIX-00000.local…")
@click.option("--label", "labels", multiple=True, help="key=value for every agent; repeatable.")
@click.option("--nats-url")
@click.option("--public-key", type=click.Path(exists=True, dir_okay=False))
@click.option("--heartbeat-interval", type=float)
@click.option("--max-concurrency", type=int, default=2, show_default=True)
@click.option("--log-format", type=click.Choice(["console", "json"]))
def agent_swarm(count: int, prefix: str, labels: tuple[str, ...], **flags: Any) -> None:
    """Run COUNT virtual agents in one process on one NATS connection (benchmarks)."""
    from bench.swarm import serve_swarm

    try:
        overrides = dict(flags, hostname=f"{prefix}-template")
        overrides["labels"] = parse_labels(labels) if labels else None
        config = load_agent(os.environ, overrides, None)
    except (ConfigError, TargetError) as exc:
        raise click.UsageError(str(exc)) from None
    configure(config.log_format, os.environ.get("CORRAL_LOG_LEVEL", "warning"))
    run_loop(serve_swarm(config, count, prefix), os.environ)


@main.group("job")
def job_group() -> None:
    """Submit and inspect jobs."""


@job_group.command("submit")
@click.argument("operation")
@click.option("--data", default="{}", help="Operation params as a JSON object.")
@click.option("--target", default="_any", show_default=True)
@click.option("--timeout", type=float, default=None, help="Seconds; default from the server.")
@click.option("--wait", is_flag=True, help="Wait for the final status and print the detail.")
@click.option("--watch", is_flag=True, help=WATCH_HELP)
@click.option(
    "--idempotency-key", default=None, help="Resubmitting with the same key returns the same job."
)
@click.option("--dry-run", is_flag=True, help="Compute what it would do; change nothing.")
@output_option
@client_options
def job_submit(
    operation: str,
    data: str,
    target: str,
    timeout: float | None,
    wait: bool,
    watch: bool,
    idempotency_key: str | None,
    dry_run: bool,
    output: Format,
    url: str,
    api_key: str,
) -> None:
    """Submit OPERATION (e.g. node.status.get) to TARGET; corral run builds the data from flags."""
    try:
        params = json.loads(data)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None

    submit = {
        "operation": operation,
        "data": params,
        "target": target,
        "timeout": timeout,
        "idempotency_key": idempotency_key,
        "dry_run": dry_run,
    }
    with_client(
        url,
        api_key,
        lambda client: submit_and_show(client, submit, wait=wait, watch=watch, output=output),
    )


@job_group.command("get")
@click.argument("job_id")
@output_option
@client_options
def job_get(job_id: str, output: Format, url: str, api_key: str) -> None:
    """Show one job's detail."""
    with_client(url, api_key, lambda c: emit(c.job(job_id), output, print_detail))


@job_group.command("watch", help=JOB_WATCH_HELP)
@click.argument("job_id")
@output_option
@client_options
def job_watch(job_id: str, output: Format, url: str, api_key: str) -> None:
    with_client(url, api_key, lambda c: watch_and_show(c, job_id, output))


@job_group.command("list")
@click.option("--status", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--offset", type=int, default=0)
@output_option
@client_options
def job_list(
    status: str | None, limit: int, offset: int, output: Format, url: str, api_key: str
) -> None:
    """List jobs, newest first."""
    with_client(url, api_key, lambda c: emit(c.jobs(status, limit, offset), output, print_jobs))


@job_group.command("delete")
@click.argument("job_id")
@client_options
def job_delete(job_id: str, url: str, api_key: str) -> None:
    """Delete a job record."""
    with_client(url, api_key, lambda c: c.delete(job_id))


@job_group.command("retry")
@click.argument("job_id")
@click.option("--target", default=None, help="Override the original target.")
@client_options
def job_retry(job_id: str, target: str | None, url: str, api_key: str) -> None:
    """Submit a job again (same operation, same target unless overridden)."""
    with_client(
        url,
        api_key,
        lambda c: click.echo(
            c.retry(job_id, target, idempotency_key=f"cli-retry-{uuid.uuid4()}").job_id
        ),
    )


@job_group.command("cancel")
@click.argument("job_id")
@client_options
def job_cancel(job_id: str, url: str, api_key: str) -> None:
    """Cancel a job: agents running it stop (process group killed); 409 if finished."""
    with_client(url, api_key, lambda c: click.echo(c.cancel(job_id).status))


@main.group("keys")
def keys_group() -> None:
    """Manage the controller's Ed25519 signing keys."""


@keys_group.command("generate")
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--name", default="controller", show_default=True)
def keys_generate(out: str, name: str) -> None:
    """Write NAME.key (private, 0600: controllers only) and NAME.pub (agents)."""
    from common.signing import write_keypair

    with needs_extra("controller"):
        key, pub = write_keypair(Path(out), name)
    click.echo(f"private key: {key}\npublic key:  {pub}")


@keys_group.command("rotate")
@click.option("--dir", "directory", type=click.Path(file_okay=False), required=True)
@click.option("--name", default="controller", show_default=True)
@click.option("--retire", is_flag=True, help="Drop every public key but the current one.")
def keys_rotate(directory: str, name: str, retire: bool) -> None:
    """Rotate NAME.key; NAME.pub pins the new key *and* the old ones (see docs/security.md).

    Ship the new NAME.pub to every agent and restart them, then swap NAME.key on
    the controllers; once no job signed by the old key is pending, run again
    with --retire and ship NAME.pub once more.
    """
    from cli.keys import retire_keys, rotate_keys

    with needs_extra("controller"):
        if retire:
            pinned = retire_keys(Path(directory), name)
            click.echo(f"public keys now pinned: {', '.join(pinned)}")
            return
        new_id, pinned = rotate_keys(Path(directory), name)
    click.echo(f"new signing key {new_id}; public keys pinned: {', '.join(pinned)}")


@main.group("dev")
def dev_group() -> None:
    """The embedded development system."""


@dev_group.command("up")
@click.option("--agents", "agent_count", type=int, default=3, show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--nats-url", default=None, help="Use a running nats-server instead.")
@click.option("--redis-url", default=None, help="Use a running redis-server instead.")
@click.option("--demo", is_flag=True, help="Submit a broadcast job and print its detail.")
@click.option("--exit-after-demo", is_flag=True, help="Stop after the demo (for scripts).")
def dev_up(
    agent_count: int,
    port: int,
    nats_url: str | None,
    redis_url: str | None,
    demo: bool,
    exit_after_demo: bool,
) -> None:
    """Start nats-server, redis-server, a controller and agents on this machine."""
    from devstack.stack import DevStack

    configure("console", "warning")
    stack = DevStack(
        agent_count=agent_count,
        port=port,
        nats_url=nats_url,
        redis_url=redis_url,
        api_key=os.environ.get("CORRAL_API_KEY"),
    )
    sys.exit(stack.run(demo=demo, exit_after_demo=exit_after_demo))


main.add_command(run_group)
main.add_command(operation_group)
main.add_command(object_group)
main.add_command(completion_command)

if __name__ == "__main__":
    main()
