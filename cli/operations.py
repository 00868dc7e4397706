"""``corral run <operation>`` and ``corral operation list|show|docs``. I/O: HTTP, stdout.

``corral run`` has one subcommand per operation declared on this machine
(the built-ins, and the installed plugins' declarations: pure, no handler
runs here), its flags built from the params struct (cli/params.py) and its
help from the declaration. ``corral operation list|show`` ask the
controller, which knows every operation its agents may run;
``corral operation docs`` prints docs/catalog.md (cli/catalog_docs.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem

from cli import params
from cli.catalog_docs import example_line, render_catalog
from cli.options import client_options, client_params, with_client
from cli.output import Format, chosen, emit, output_option, output_params
from cli.progress import exit_code
from cli.render import print_detail, print_operation, print_operations
from cli.rollout import ROLLOUT_FLAGS, rollout_from, rollout_options
from cli.watch import WATCH_HELP, watch_and_show
from common.api import Accepted
from common.operations import plugins
from common.operations.catalog import BUILTIN_FAMILIES, OPERATIONS, add_families
from common.operations.declaration import Declaration

if TYPE_CHECKING:
    from corral_sdk.client import Client

# The flags of `corral run` itself: a params field cannot take these names.
RESERVED = (
    frozenset(
        {
            *("target", "job_timeout", "wait", "watch", "dry_run", "idempotency_key"),
            *("json", "as_json", "output", "url", "api_key"),
        }
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


def complete_operation(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion of an operation's name, from the local catalog (no API call)."""
    return [
        CompletionItem(name, help=declaration.summary)
        for name, declaration in sorted(local_operations().items())
        if name.startswith(incomplete)
    ]


def submit_and_show(
    client: Client,
    submit: dict[str, Any],
    *,
    wait: bool,
    watch: bool = False,
    output: Format = "table",
) -> None:
    """Submit one job; print its id, or follow it live (``watch``, cli/watch.py), or with
    ``wait`` print its final detail. Waiting or watching, exit 1 unless completed."""
    if watch:
        watch_and_show(client, client.submit(**submit).job_id, output)
        return
    if not wait:
        click.echo(client.submit(**submit).job_id)
        return
    # One request: the controller answers when the job is final (POST /job?wait=).
    answer = client.run(**submit, wait=(submit.get("timeout") or 30) + 10)
    detail = client.job(answer.job_id) if isinstance(answer, Accepted) else answer
    emit(detail, output, print_detail)
    sys.exit(exit_code(detail.status))


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
        click.Option(["--watch"], is_flag=True, help=WATCH_HELP),
        click.Option(["--dry-run"], is_flag=True, help="Compute what it would do; change nothing."),
        *rollout_options(),
        click.Option(["--idempotency-key"], help="Resubmitting with the same key: the same job."),
        *output_params(),
        *client_params(),
    ]


def run_command(declaration: Declaration) -> click.Command:
    """The ``corral run`` subcommand of one operation."""
    fields = params.fields(declaration.params)

    def callback(**given: Any) -> None:
        data = params.data_from(declaration.params, {f.name: given[f.name] for f in fields})
        output = chosen(given["output"], given["as_json"])
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
            lambda c: submit_and_show(
                c, submit, wait=given["wait"], watch=given["watch"], output=output
            ),
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
@output_option
@client_options
def operation_list(output: Format, url: str, api_key: str) -> None:
    """List every operation: name, kind, scope, summary (json and yaml: schemas too)."""
    with_client(url, api_key, lambda c: emit(c.operations(), output, print_operations))


@operation_group.command("show")
@click.argument("name", shell_complete=complete_operation)
@output_option
@client_options
def operation_show(name: str, output: Format, url: str, api_key: str) -> None:
    """Show one operation: description, scope, parameters, result, example."""
    with_client(url, api_key, lambda c: emit(c.operation(name), output, print_operation))


@operation_group.command("docs")
def operation_docs() -> None:
    """Print the reference of the built-in operations (docs/catalog.md) from the declarations."""
    click.echo(render_catalog(BUILTIN_FAMILIES), nl=False)
