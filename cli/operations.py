"""``corral run <operation>`` and ``corral operation list|show|docs``. I/O: HTTP, stdout.

``corral run`` has one subcommand per operation declared on this machine
(the built-ins, and the installed plugins' declarations: pure, no handler
runs here), its flags built from the params struct (cli/params.py) and its
help from the declaration. ``corral operation list|show`` ask the
controller, which knows every operation its agents may run;
``corral operation docs`` prints docs/catalog.md (cli/catalog_docs.py).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import msgspec

from cli import params
from cli.catalog_docs import example_line, render_catalog
from cli.options import client_options, client_params, with_client
from cli.render import print_detail, print_operation, print_operations
from cli.rollout import ROLLOUT_FLAGS, rollout_from, rollout_options
from common.api import Accepted
from common.operations import plugins
from common.operations.catalog import BUILTIN_FAMILIES, OPERATIONS, add_families
from common.operations.declaration import Declaration
from corral_sdk.client import Client

# The flags of `corral run` itself: a params field cannot take these names.
RESERVED = (
    frozenset(
        {"target", "job_timeout", "wait", "dry_run", "idempotency_key", "json", "url", "api_key"}
    )
    | ROLLOUT_FLAGS
)


def local_operations() -> dict[str, Declaration]:
    """The built-in operations and those of the plugins installed here."""
    try:
        add_families(plugins.load_all())
    except ValueError as exc:
        click.echo(f"warning: operation plugins not loaded: {exc}", err=True)
    return OPERATIONS


def submit_and_show(
    client: Client,
    submit: dict[str, Any],
    *,
    wait: bool,
    as_json: bool = False,
) -> None:
    """Submit one job; print its id, or with ``wait`` its final detail (exit 1 unless completed)."""
    if not wait:
        click.echo(client.submit(**submit).job_id)
        return
    # One request: the controller answers when the job is final (POST /job?wait=).
    answer = client.run(**submit, wait=(submit.get("timeout") or 30) + 10)
    found = client.job(answer.job_id) if isinstance(answer, Accepted) else answer
    detail: dict[str, Any] = msgspec.to_builtins(found)
    if as_json:
        click.echo(json.dumps(detail, indent=2))
    else:
        print_detail(detail)
    if detail["status"] != "completed":
        sys.exit(1)


def _help(declaration: Declaration) -> str:
    dry = "yes" if declaration.dry_runnable else "no"
    facts = (
        f"kind: {declaration.kind}, scope: {declaration.scope},"
        f" platforms: {', '.join(declaration.platforms)}, dry run: {dry}"
    )
    # \b: click keeps the lines of the next paragraph as they are.
    usage = f"\b\n{facts}\nexample:\n  {example_line(declaration)}"
    return f"{declaration.summary}\n\n{declaration.description}\n\n{usage}"


def _own_options() -> list[click.Option]:
    return [
        click.Option(["--target"], required=True, help="_any, _all, a hostname or key:value."),
        click.Option(["--job-timeout"], type=float, help="Seconds; default from the server."),
        click.Option(["--wait"], is_flag=True, help="Wait for the final status, print the detail."),
        click.Option(["--dry-run"], is_flag=True, help="Compute what it would do; change nothing."),
        *rollout_options(),
        click.Option(["--idempotency-key"], help="Resubmitting with the same key: the same job."),
        click.Option(["--json", "as_json"], is_flag=True, help="With --wait: the raw JSON detail."),
        *client_params(),
    ]


def run_command(declaration: Declaration) -> click.Command:
    """The ``corral run`` subcommand of one operation."""
    fields = params.fields(declaration.params)

    def callback(**given: Any) -> None:
        data = params.data_from(declaration.params, {f.name: given[f.name] for f in fields})
        submit = {
            "operation": declaration.name,
            "data": data,
            "target": given["target"],
            "timeout": given["job_timeout"],
            "idempotency_key": given["idempotency_key"],
            "dry_run": given["dry_run"],
            "rollout": rollout_from(given),
        }
        with_client(
            given["url"],
            given["api_key"],
            lambda c: submit_and_show(c, submit, wait=given["wait"], as_json=given["as_json"]),
        )

    return click.Command(
        declaration.name,
        params=[*(params.option(f) for f in fields), *_own_options()],
        callback=callback,
        help=_help(declaration),
        short_help=declaration.summary,
    )


class OperationCommands(click.Group):
    """One subcommand per operation, built when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(local_operations())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        declaration = OPERATIONS.get(cmd_name) or local_operations().get(cmd_name)
        return None if declaration is None else run_command(declaration)


@click.group("run", cls=OperationCommands)
def run_group() -> None:
    """Run OPERATION on --target: corral run node.disk.get --path /var --target _all --wait.

    Each operation's flags come from its parameters: corral run OPERATION --help.
    """


@click.group("operation")
def operation_group() -> None:
    """The operations the controller knows: list, show; docs prints docs/catalog.md."""


@operation_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON, schemas included.")
@client_options
def operation_list(as_json: bool, url: str, api_key: str) -> None:
    """List every operation: name, kind, scope, summary."""

    def run(client: Client) -> None:
        listing = msgspec.to_builtins(client.operations())
        click.echo(json.dumps(listing, indent=2)) if as_json else print_operations(listing)

    with_client(url, api_key, run)


@operation_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON, schemas included.")
@client_options
def operation_show(name: str, as_json: bool, url: str, api_key: str) -> None:
    """Show one operation: description, scope, parameters, result, example."""

    def run(client: Client) -> None:
        view = msgspec.to_builtins(client.operation(name))
        click.echo(json.dumps(view, indent=2)) if as_json else print_operation(view)

    with_client(url, api_key, run)


@operation_group.command("docs")
def operation_docs() -> None:
    """Print the reference of the built-in operations (docs/catalog.md) from the declarations."""
    click.echo(render_catalog(BUILTIN_FAMILIES), nl=False)
