"""``corral completion bash|zsh|fish``: the shell completion script. I/O: stdout.

The script is click's own, the one ``_CORRAL_COMPLETE=bash_source corral``
prints; at each Tab it runs ``corral`` again to ask for the candidates:
subcommands, options, choices, and operation names from the local catalog
(``corral run <Tab>``, ``corral operation show <Tab>``).
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
PROGRAM = "corral"
COMPLETE_VAR = "_CORRAL_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL; load it from your shell's startup file.

    \b
    bash: eval "$(corral completion bash)"     in ~/.bashrc
    zsh:  eval "$(corral completion zsh)"      in ~/.zshrc
    fish: corral completion fish > ~/.config/fish/completions/corral.fish
    """
    completion = get_completion_class(shell)
    if completion is None:  # click ships all three; a future click could drop one
        raise click.UsageError(f"click cannot complete {shell} here")
    root = ctx.find_root().command
    click.echo(completion(root, {}, PROGRAM, COMPLETE_VAR).source(), nl=False)
