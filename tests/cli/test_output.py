"""``-o json|yaml|table`` on every read command, and shell completion. No server."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec
import pytest
import yaml
from click.shell_completion import BashComplete
from click.testing import CliRunner

from cli.main import main
from cli.output import Format, emit, formatted, output_option
from common.api import ObjectList, ObjectView

LISTING = ObjectList(
    objects=[ObjectView(name="motd", size=8, sha256="ab" * 32, modified="2026-01-01T00:00:00Z")]
)
READ_COMMANDS = [
    ("job", "get"),
    ("job", "list"),
    ("job", "watch"),
    ("agent", "list"),
    ("operation", "list"),
    ("operation", "show"),
    ("object", "list"),
]


def test_json_and_yaml_carry_the_same_data_as_the_struct() -> None:
    plain = msgspec.to_builtins(LISTING)
    assert json.loads(formatted(LISTING, "json")) == plain
    assert yaml.safe_load(formatted(LISTING, "yaml")) == plain
    assert formatted(LISTING, "yaml").startswith("objects:\n- name: motd\n")  # field order kept


def test_table_gets_the_plain_data(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict[str, Any]] = []
    emit(LISTING, "table", seen.append)
    assert seen == [msgspec.to_builtins(LISTING)]
    assert capsys.readouterr().out == ""


@click.command()
@output_option
def shown(output: Format) -> None:
    emit(LISTING, output, lambda listing: click.echo(f"table of {len(listing['objects'])}"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "table of 1\n"),
        (["-o", "table"], "table of 1\n"),
        (["-o", "json"], formatted(LISTING, "json")),
        (["--output", "yaml"], formatted(LISTING, "yaml")),
        (["--json"], formatted(LISTING, "json")),  # the flag these commands had before
    ],
)
def test_output_option_picks_the_format(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(shown, args)
    assert (result.exit_code, result.output) == (0, expected)


def test_output_option_refuses_other_formats() -> None:
    result = CliRunner().invoke(shown, ["-o", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of 'table', 'json', 'yaml'" in result.output


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_every_read_command_takes_the_output_option(command: tuple[str, str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "-o, --output [table|json|yaml]" in result.output


def test_run_takes_the_output_option_and_watch() -> None:
    result = CliRunner().invoke(main, ["run", "test.sleep", "--help"])
    assert "-o, --output [table|json|yaml]" in result.output
    assert "--watch" in result.output
    assert "Exit code: 0 completed; 1 failed, partial_failure or cancelled" in " ".join(
        result.output.split()
    )


def completions(*words: str) -> list[str]:
    """What Tab offers after ``corral WORDS...``, the last word being the one typed."""
    shell = BashComplete(main, {}, "corral", "_CORRAL_COMPLETE")
    return [item.value for item in shell.get_completions(list(words[:-1]), words[-1])]


def test_completion_offers_operation_names_from_the_catalog() -> None:
    assert completions("run", "node.disk") == ["node.disk.get"]
    assert "test.sleep" in completions("run", "test.")
    assert completions("operation", "show", "node.disk") == ["node.disk.get"]
    assert completions("job", "get", "ID", "-o", "") == ["table", "json", "yaml"]
    assert "watch" in completions("job", "")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script_for_the_shell(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert f"_CORRAL_COMPLETE={shell}_complete" in result.output
    assert (
        result.output
        == CliRunner()
        .invoke(main, [], prog_name="corral", env={"_CORRAL_COMPLETE": f"{shell}_source"})
        .output
    )
