"""``corral object``: upload, list and delete deploy content (``/object``). I/O: files, HTTP.

What ``file.deploy`` deploys with ``object`` and ``sha256`` (docs/api.md);
``upload`` prints the sha256 to put in the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.options import client_options, with_client
from cli.output import Format, emit, output_option
from cli.render import print_objects

if TYPE_CHECKING:
    from corral_sdk.client import Client


@click.group("object")
def object_group() -> None:
    """Deploy content in the controller's object store (for file.deploy)."""


@object_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="The object's name; default: the file's name.")
@client_options
def object_upload(file: Path, name: str | None, url: str, api_key: str) -> None:
    """Upload FILE as an object; prints its name, size and sha256."""
    content = file.read_bytes()

    def upload(client: Client) -> None:
        stored = client.upload_object(name or file.name, content)
        click.echo(f"{stored.name} {stored.size} {stored.sha256}")

    with_client(url, api_key, upload)


@object_group.command("list")
@output_option
@client_options
def object_list(output: Format, url: str, api_key: str) -> None:
    """List the stored objects."""
    with_client(url, api_key, lambda client: emit(client.list_objects(), output, print_objects))


@object_group.command("delete")
@click.argument("name")
@client_options
def object_delete(name: str, url: str, api_key: str) -> None:
    """Delete the object NAME."""
    with_client(url, api_key, lambda client: client.delete_object(name))
